#if canImport(Glibc)
import Glibc
#endif
import COpenBLAS
import CSystem

/// A fixed pool of worker threads that runs `count` independent jobs (the tasks
/// of a meta-batch) and returns their results in index order.
///
/// Results are stored per index and combined by the caller in order, so a
/// reduction over them is bit-identical whatever the scheduling. While jobs run
/// on several threads, OpenBLAS is held to one thread so the two kinds of
/// parallelism do not oversubscribe the cores.
public final class WorkerPool: @unchecked Sendable {
    public let threads: Int
    private var workers: [pthread_t] = []
    private var mutex = pthread_mutex_t()
    private var wake = pthread_cond_t()
    private var done = pthread_cond_t()
    private var runMutex = pthread_mutex_t()
    // The current batch, guarded by `mutex`.
    private var job: ((Int) -> Void)?
    private var next = 0
    private var total = 0
    private var finished = 0
    private var generation = 0
    /// `generation` and `finished`, mirrored for spinning threads that do not
    /// hold `mutex`. Back-to-back meta-steps hand out a batch every few hundred
    /// microseconds; waking a thread blocked in the kernel costs a noticeable
    /// part of that, so threads spin for up to `spinLimit` before they block.
    private let published = UnsafeMutablePointer<Int>.allocate(capacity: 2)
    private let spinLimit = 20_000
    private var stopping = false

    /// The process-wide pool: `METASWIFT_THREADS` threads when that is set
    /// to a positive integer (say 1 for each of several processes sharing a
    /// machine, as MPI ranks do), else one thread per core (at least one).
    public static let shared = WorkerPool(threads: configuredThreads(getenv("METASWIFT_THREADS").map { String(cString: $0) },
                                                                     cores: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))

    /// The threads `METASWIFT_THREADS` asks for (`setting`), or `cores` when it is unset or not a positive integer.
    static func configuredThreads(_ setting: String?, cores: Int) -> Int {
        guard let setting, let n = Int(setting.filter { $0 != " " }), n > 0 else { return Swift.max(1, cores) }
        return Swift.min(n, 1024)
    }

    public init(threads: Int) {
        self.threads = Swift.max(1, threads)
        pthread_mutex_init(&mutex, nil)
        pthread_mutex_init(&runMutex, nil)
        pthread_cond_init(&wake, nil)
        pthread_cond_init(&done, nil)
        published.initialize(repeating: 0, count: 2)
        for _ in 1..<self.threads {
            var t = pthread_t()
            let box = Unmanaged.passRetained(self).toOpaque()
            pthread_create(&t, nil, { arg in
                let pool = Unmanaged<WorkerPool>.fromOpaque(arg!).takeRetainedValue()
                pool.workerLoop()
                return nil
            }, box)
            workers.append(t)
        }
    }

    private func workerLoop() {
        var seen = 0
        pthread_mutex_lock(&mutex)
        while true {
            if generation == seen && !stopping {
                pthread_mutex_unlock(&mutex)
                var spins = 0
                while ms_atomic_load(published) == seen && spins < spinLimit { ms_cpu_relax(); spins += 1 }
                pthread_mutex_lock(&mutex)
            }
            while generation == seen && !stopping { pthread_cond_wait(&wake, &mutex) }
            if stopping { break }
            seen = generation
            drain()
        }
        pthread_mutex_unlock(&mutex)
    }

    /// Runs jobs until none are left. Called with `mutex` held; releases it
    /// around each job.
    private func drain() {
        while next < total, let body = job {
            let i = next
            next += 1
            pthread_mutex_unlock(&mutex)
            body(i)
            pthread_mutex_lock(&mutex)
            finished += 1
            ms_atomic_store(published + 1, finished)
            if finished == total { pthread_cond_broadcast(&done) }
        }
    }

    /// Runs `body(0) ..< body(count - 1)` across the pool and returns the
    /// results in index order. The first error thrown (by index) is rethrown
    /// after every job has finished.
    public func map<T>(_ count: Int, _ body: (Int) throws -> T) throws -> [T] {
        if count <= 0 { return [] }
        let slots = UnsafeMutablePointer<Result<T, Error>?>.allocate(capacity: count)
        slots.initialize(repeating: nil, count: count)
        defer { slots.deinitialize(count: count); slots.deallocate() }
        try withoutActuallyEscaping(body) { body in
            let run: (Int) -> Void = { i in slots[i] = Result { try body(i) } }
            if threads == 1 || count == 1 {
                for i in 0..<count { run(i) }
                return
            }
            // One batch at a time; a nested call from inside a job runs inline.
            if pthread_mutex_trylock(&runMutex) != 0 {
                for i in 0..<count { run(i) }
                return
            }
            defer { pthread_mutex_unlock(&runMutex) }
            let blas = openblas_get_num_threads()
            openblas_set_num_threads(1)
            defer { openblas_set_num_threads(blas) }
            pthread_mutex_lock(&mutex)
            job = run
            next = 0
            total = count
            finished = 0
            ms_atomic_store(published + 1, 0)
            generation += 1
            ms_atomic_store(published, generation)
            pthread_cond_broadcast(&wake)
            drain()
            if finished < total {
                pthread_mutex_unlock(&mutex)
                var spins = 0
                while ms_atomic_load(published + 1) < count && spins < spinLimit { ms_cpu_relax(); spins += 1 }
                pthread_mutex_lock(&mutex)
            }
            while finished < total { pthread_cond_wait(&done, &mutex) }
            job = nil
            pthread_mutex_unlock(&mutex)
        }
        return try (0..<count).map { try slots[$0]!.get() }
    }
}
