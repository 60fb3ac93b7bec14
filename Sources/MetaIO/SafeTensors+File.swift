#if canImport(Glibc)
import Glibc
#endif
import MetaTensor

extension SafeTensors {
    /// Reads and checks the safetensors file at `path` (see
    /// `parse(bytes:source:)` for the rules). The file is read with one
    /// buffer of its size, after its header size has been checked against
    /// that size and the memory the process can have.
    ///
    ///     let file = try SafeTensors.read(path: "model.safetensors")
    ///
    /// Throws a `MetaError` naming `path` when the file is missing,
    /// unreadable, not a regular file, changes size while read, or is not a
    /// valid safetensors file; `.outOfMemory` when it cannot be held.
    public static func read(path: String) throws -> SafeTensors {
        try parse(bytes: try FileIO.readFile(path), source: path)
    }

    /// Writes the file atomically: the bytes go to a new temporary file in
    /// the same directory (`<path>.tmp-<pid>-<n>`), which is flushed to disk
    /// (`fsync`) and renamed over `path`; then the directory is flushed, so
    /// the rename itself survives a crash. Readers see the old file or the
    /// new one, never a part.
    ///
    ///     try file.write(to: "checkpoints/step-1000.safetensors")
    ///
    /// On any failure the temporary file is removed, `path` is left as it
    /// was, and a `MetaError` names the path and the system's reason.
    ///
    /// Traps: a symbolic link at `path` is replaced by the file, not
    /// followed; the new file gets mode 0666 less the umask, not the old
    /// file's mode. If only the final directory flush fails, the new file
    /// is in place but may not survive a crash, and the error says so.
    public func write(to path: String) throws {
        let (prefix, order) = try prefixAndLayout()
        try FileIO.writeAtomically(path) { sink in
            try prefix.withUnsafeBytes { try sink.write($0) }
            for i in order { try entries[i].withUnsafeBytes { try sink.write($0) } }
        }
    }
}

/// File input and output on Glibc (no Foundation in the engine).
enum FileIO {
    /// The system's message for `code`.
    static func reason(_ code: Int32) -> String { String(cString: strerror(code)) }

    /// The whole of the regular file at `path`, in one buffer.
    static func readFile(_ path: String) throws -> [UInt8] {
        func fail(_ what: String) -> MetaError { MetaError.argument("\(path): \(what)") }
        var fd: Int32
        repeat { fd = open(path, O_RDONLY | O_CLOEXEC) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw fail("cannot open for reading: \(reason(errno))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw fail("cannot stat: \(reason(errno))") }
        guard info.st_mode & S_IFMT == S_IFREG else { throw fail("is not a regular file") }
        let size = Int(info.st_size)

        // The header size is checked against the file before a buffer of the
        // file's size is asked for.
        var first = [UInt8](repeating: 0, count: Swift.min(8, size))
        let got = try first.withUnsafeMutableBytes { try readFully(fd, into: $0, at: 0, path) }
        _ = try SafeTensors.checkedHeaderSize(first[0..<got], totalSize: size, source: path)
        try MemoryLimit.check(elements: size, stride: 1, "\(path): reading its \(size) bytes")

        var failure: Error?
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            do {
                initialized = try readFully(fd, into: UnsafeMutableRawBufferPointer(buffer), at: 0, path)
                if initialized < size {
                    failure = fail("the file shrank while being read (\(initialized) of \(size) bytes)")
                }
            } catch {
                initialized = 0
                failure = error
            }
        }
        if let failure { throw failure }
        var extra: UInt8 = 0
        guard try withUnsafeMutableBytes(of: &extra, { try readFully(fd, into: $0, at: size, path) }) == 0 else {
            throw fail("the file grew while being read (past the \(size) bytes it had)")
        }
        return bytes
    }

    /// Reads into `buffer` from `offset` until it is full or the file ends;
    /// returns the bytes read. Retries on EINTR.
    static func readFully(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int,
                          _ path: String) throws -> Int {
        var done = 0
        while done < buffer.count, let base = buffer.baseAddress {
            let n = pread(fd, base + done, Swift.min(buffer.count - done, 1 << 30), off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw MetaError.argument("\(path): cannot read: \(reason(errno))")
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Where `writeAtomically`'s body puts the bytes.
    struct Sink {
        let fd: Int32
        let path: String

        /// Writes all of `bytes`, through short writes and EINTR.
        func write(_ bytes: UnsafeRawBufferPointer) throws {
            var done = 0
            while done < bytes.count, let base = bytes.baseAddress {
                let n = Glibc.write(fd, base + done, Swift.min(bytes.count - done, 1 << 30))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw MetaError.argument("\(path): cannot write: \(reason(errno))")
                }
                guard n > 0 else { throw MetaError.argument("\(path): cannot write: the system wrote nothing") }
                done += n
            }
        }
    }

    /// Numbers temporary files apart within the process (the pid apart between processes).
    private final class Counter: @unchecked Sendable {
        var lock = pthread_mutex_t()
        var value = 0
        init() { pthread_mutex_init(&lock, nil) }
        func next() -> Int {
            pthread_mutex_lock(&lock)
            defer { pthread_mutex_unlock(&lock) }
            value += 1
            return value
        }
    }
    private static let counter = Counter()

    /// The directory holding `path` ("." for a bare name).
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = path[..<slash]
        return dir.isEmpty ? "/" : String(dir)
    }

    /// Creates `path` anew or replaces it, atomically: `body` writes into a
    /// temporary file beside it, which is synced, closed and renamed over
    /// `path`, and the directory is synced. On failure the temporary file is
    /// removed and `path` is untouched.
    static func writeAtomically(_ path: String, _ body: (Sink) throws -> Void) throws {
        func fail(_ what: String, _ code: Int32) -> MetaError {
            MetaError.argument("\(path): \(what): \(reason(code))")
        }
        guard !path.isEmpty, !path.hasSuffix("/") else {
            throw MetaError.argument("\(path.isEmpty ? "\"\"" : path): not a file path")
        }
        var fd: Int32 = -1
        var temporary = ""
        for _ in 0..<64 {
            temporary = "\(path).tmp-\(getpid())-\(counter.next())"
            fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
            if fd >= 0 || (errno != EEXIST && errno != EINTR) { break }
        }
        guard fd >= 0 else { throw fail("cannot create the temporary file \(temporary)", errno) }

        var isOpen = true
        do {
            try body(Sink(fd: fd, path: temporary))
            var status: Int32
            repeat { status = fsync(fd) } while status != 0 && errno == EINTR
            guard status == 0 else { throw fail("cannot flush \(temporary) to disk", errno) }
            isOpen = false
            // close's errors report delayed write failures (NFS); the
            // descriptor is released either way, so it is not retried.
            guard close(fd) == 0 else { throw fail("cannot close \(temporary)", errno) }
            guard rename(temporary, path) == 0 else { throw fail("cannot rename \(temporary) over it", errno) }
        } catch {
            if isOpen { close(fd) }
            unlink(temporary)
            throw error
        }
        try syncDirectory(directory(of: path), path)
    }

    /// Flushes a directory's entries (a rename in it) to disk. File systems
    /// that cannot sync a directory (EINVAL) are taken at their word.
    static func syncDirectory(_ dir: String, _ path: String) throws {
        var fd: Int32
        repeat { fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) } while fd < 0 && errno == EINTR
        guard fd >= 0 else {
            throw MetaError.argument("\(path): written, but its directory \(dir) cannot be opened to flush the "
                                     + "rename to disk: \(reason(errno))")
        }
        defer { close(fd) }
        var status: Int32
        repeat { status = fsync(fd) } while status != 0 && errno == EINTR
        guard status == 0 || errno == EINVAL else {
            throw MetaError.argument("\(path): written, but flushing its directory \(dir) failed, so the new file "
                                     + "may not survive a crash: \(reason(errno))")
        }
    }
}
