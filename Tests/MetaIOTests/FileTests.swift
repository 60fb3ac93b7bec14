import XCTest
import Foundation
import MetaTensor
import MetaIO
import _TestSupport

/// `read(path:)` names the file and the fault; `write(to:)` replaces a file
/// whole or not at all, and never leaves its temporary file behind.
final class FileTests: XCTestCase {
    func file(_ values: [Float]) throws -> SafeTensors {
        try SafeTensors(tensors: [("w", Tensor(shape: [values.count], scalars: values))], metadata: [("v", "\(values.count)")])
    }

    func testTensorsListInOrderAndThroughAFile() throws {
        var rng = TestRandom(seed: 3)
        let params = [("w", rng.tensor([2, 3])), ("b", rng.tensor([3]))]
        let dir = try temporaryDirectory(self)
        try SafeTensors(tensors: params, metadata: [("k", "v")]).write(to: dir + "/m.safetensors")
        let back = try SafeTensors.read(path: dir + "/m.safetensors").tensors()
        XCTAssertEqual(back.map(\.0), ["w", "b"])
        XCTAssertEqual(back.map(\.1.scalars), params.map(\.1.scalars))
    }

    func testReadNamesTheFileAndWhatIsWrong() throws {
        let dir = try temporaryDirectory(self)
        assertThrowsMessage(try SafeTensors.read(path: dir + "/missing.safetensors"),
                            dir + "/missing.safetensors: cannot open for reading: No such file or directory")
        assertThrowsMessage(try SafeTensors.read(path: dir), dir + ": is not a regular file")
        writeBytes([1, 2, 3], dir + "/short")
        assertThrowsMessage(try SafeTensors.read(path: dir + "/short"), dir + "/short: 3 bytes is too short")
        writeBytes(assemble("{}", headerLength: 1 << 40), dir + "/liar")
        assertThrowsMessage(try SafeTensors.read(path: dir + "/liar"), "/liar: the header size 1099511627776 is above")
        writeBytes(assemble("{}", headerLength: 64), dir + "/long")
        assertThrowsMessage(try SafeTensors.read(path: dir + "/long"), "/long: the header size 64 is larger than the 2 bytes")
        writeBytes(assemble(#"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, [0, 0, 0, 0]), dir + "/size")
        assertThrowsMessage(try SafeTensors.read(path: dir + "/size"), dir + "/size: tensor \"t\": F32 of shape [2] takes 8 bytes")
        writeBytes(try SafeTensors(tensors: [("w", Tensor(shape: [2], scalars: [1, 2]))]).serialized(), dir + "/good")
        XCTAssertEqual(try SafeTensors.read(path: dir + "/good").tensor(named: "w").scalars, [1, 2])
    }

    func testWriteCreatesThenReplaces() throws {
        let dir = try temporaryDirectory(self)
        let path = dir + "/m.safetensors"
        try file([1, 2]).write(to: path)
        XCTAssertEqual(try SafeTensors.read(path: path), try file([1, 2]))
        try file([3, 4, 5]).write(to: path)
        XCTAssertEqual(readBytes(path), try file([3, 4, 5]).serialized())
        XCTAssertEqual(directoryListing(dir), ["m.safetensors"])
    }

    func testRelativePathWritesInTheCurrentDirectory() throws {
        let dir = try temporaryDirectory(self)
        let saved = FileManager.default.currentDirectoryPath
        XCTAssertEqual(chdir(dir), 0)
        defer { _ = chdir(saved) }
        try file([1]).write(to: "bare.safetensors")
        XCTAssertEqual(directoryListing(dir), ["bare.safetensors"])
    }

    func testMissingDirectoryFailsAndCreatesNothing() throws {
        let dir = try temporaryDirectory(self)
        assertThrowsMessage(try file([1]).write(to: dir + "/absent/m.safetensors"),
                            dir + "/absent/m.safetensors: cannot create the temporary file", "No such file or directory")
        XCTAssertEqual(directoryListing(dir), [])
        assertThrowsMessage(try file([1]).write(to: dir + "/"), "not a file path")
        assertThrowsMessage(try file([1]).write(to: ""), "not a file path")
    }

    /// The rename fails after every byte is written and synced: the
    /// temporary file goes, what was at the path stays.
    func testFailedRenameLeavesTheTargetAndNoTemporary() throws {
        let dir = try temporaryDirectory(self)
        let target = dir + "/m.safetensors"
        XCTAssertEqual(mkdir(target, 0o755), 0)
        writeBytes([1, 2, 3], target + "/inside")
        assertThrowsMessage(try file([1, 2]).write(to: target), target + ": cannot rename", "over it")
        XCTAssertEqual(directoryListing(dir), ["m.safetensors"])
        XCTAssertEqual(readBytes(target + "/inside"), [1, 2, 3])
    }

    /// A write cut short by the file-size limit (as a full disk would cut
    /// it): the old file is intact and the partial temporary file is gone.
    func testFailedWriteLeavesTheOldFileIntact() throws {
        let dir = try temporaryDirectory(self)
        let path = dir + "/m.safetensors"
        let old = try file([1, 2, 3])
        try old.write(to: path)
        let big = try file([Float](repeating: 0.5, count: 100_000))

        // No assertion may print while the limit holds (the test log may be a file).
        var saved = rlimit()
        XCTAssertEqual(getrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved), 0)
        let savedHandler = signal(SIGXFSZ, SIG_IGN)
        var limited = saved
        limited.rlim_cur = 64 << 10
        let set = setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limited)
        var failure: Error?
        do { try big.write(to: path) } catch { failure = error }
        _ = setrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved)
        signal(SIGXFSZ, savedHandler)

        XCTAssertEqual(set, 0)
        let message = (failure as? MetaError)?.message ?? "no error"
        XCTAssertTrue(message.contains("cannot write") && message.contains("File too large"), message)
        XCTAssertEqual(readBytes(path), try old.serialized())
        XCTAssertEqual(directoryListing(dir), ["m.safetensors"])
    }

    /// Writers on several threads to one path: every write succeeds, each
    /// with its own temporary file, and the file ends as one of them, whole.
    func testConcurrentWritersLeaveOneWholeFile() throws {
        let dir = try temporaryDirectory(self)
        let path = dir + "/m.safetensors"
        let files = try (1...8).map { try file([Float](repeating: Float($0), count: 1000 * $0)) }
        let errors = UnsafeMutablePointer<Int>.allocate(capacity: files.count)
        errors.initialize(repeating: 0, count: files.count)
        defer { errors.deallocate() }
        DispatchQueue.concurrentPerform(iterations: files.count) { i in
            do { try files[i].write(to: path) } catch { errors[i] = 1 }
        }
        XCTAssertEqual((0..<files.count).map { errors[$0] }, [Int](repeating: 0, count: files.count))
        XCTAssertTrue(files.contains(try SafeTensors.read(path: path)))
        XCTAssertEqual(directoryListing(dir), ["m.safetensors"])
    }
}
