// swift-tools-version:6.0
// metaswift: a meta-learning engine. The layers import one way, bottom up:
// MetaTensor <- MetaAutodiff <- MetaNN / MetaOptim; MetaTensor <- MetaData / MetaEval / MetaIO;
// <- MetaLearners <- MetaStore (files; with MetaIO) <- MetaSwift (umbrella) <- MetaSwiftC (the C ABI).
import PackageDescription
import Foundation

/// Engine targets are compiled with whole-module optimisation in release builds;
/// kernels index through unsafe pointers with wrapping arithmetic, so `-O`
/// vectorises them without dropping Swift's safety checks elsewhere.
///
/// The engine is built from source on the machine that runs it (`pip install`),
/// so, like `-march=native`, it uses AVX2 and FMA when this machine has them
/// (the small-matrix GEMM then issues fused multiply-adds) and plain x86-64
/// otherwise. `METASWIFT_PORTABLE=1` forces the latter (for a binary that must
/// run on other machines).
let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
let hasFMA = ProcessInfo.processInfo.environment["METASWIFT_PORTABLE"] == nil
    && cpuinfo.contains(" avx2") && cpuinfo.contains(" fma")
let engineSettings: [SwiftSetting] = [
    .unsafeFlags(["-wmo"] + (hasFMA ? ["-target-cpu", "haswell"] : []), .when(configuration: .release)),
] + (hasFMA ? [.define("METASWIFT_FMA", .when(configuration: .release))] : [])

let package = Package(
    name: "metaswift",
    products: [
        // MARK: - Public API
        .library(name: "MetaSwift", targets: ["MetaSwift"]),
        // The shared library behind the C ABI and the Python extension.
        .library(name: "metaswift", type: .dynamic, targets: ["MetaSwiftC"]),
        .executable(name: "maml-sinusoid", targets: ["maml-sinusoid"]),
        .executable(name: "metaswift-bench", targets: ["metaswift-bench"]),
    ],
    targets: [
        // MARK: - Implementation details
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CSystem"),
        .target(name: "MetaTensor", dependencies: ["COpenBLAS", "CSystem"], swiftSettings: engineSettings),
        .target(name: "MetaAutodiff", dependencies: ["MetaTensor"], swiftSettings: engineSettings),
        .target(name: "MetaNN", dependencies: ["MetaAutodiff"], swiftSettings: engineSettings),
        .target(name: "MetaOptim", dependencies: ["MetaAutodiff"], swiftSettings: engineSettings),
        .target(name: "MetaData", dependencies: ["MetaTensor"], swiftSettings: engineSettings),
        .target(name: "MetaEval", dependencies: ["MetaTensor"], swiftSettings: engineSettings),
        .target(name: "MetaIO", dependencies: ["MetaTensor"], swiftSettings: engineSettings),
        .target(name: "MetaLearners", dependencies: ["MetaNN", "MetaOptim", "MetaData", "MetaEval"],
                swiftSettings: engineSettings),
        .target(name: "MetaStore", dependencies: ["MetaLearners", "MetaIO"], swiftSettings: engineSettings),
        .target(name: "MetaSwift",
                dependencies: ["MetaTensor", "MetaAutodiff", "MetaNN", "MetaOptim", "MetaData", "MetaEval",
                               "MetaIO", "MetaLearners", "MetaStore"]),
        .target(name: "MetaSwiftC", dependencies: ["MetaSwift"],
                swiftSettings: engineSettings,
                linkerSettings: [
                    // A self-contained .so: the Swift runtime is linked in, so the
                    // Python package imports on machines without the toolchain.
                    .unsafeFlags(["-static-stdlib", "-Xlinker", "-soname=libmetaswift.so"]),
                ]),
        .executableTarget(name: "maml-sinusoid", dependencies: ["MetaSwift"],
                          path: "examples/swift-maml-sinusoid", swiftSettings: engineSettings),
        .executableTarget(name: "metaswift-bench", dependencies: ["MetaSwift"], path: "bench/swift",
                          swiftSettings: engineSettings),
        .target(name: "_TestSupport", dependencies: ["MetaAutodiff"]),

        // MARK: - Tests
        .testTarget(name: "MetaTensorTests", dependencies: ["MetaTensor", "CSystem", "_TestSupport"]),
        .testTarget(name: "MetaAutodiffTests", dependencies: ["MetaAutodiff", "_TestSupport"]),
        .testTarget(name: "MetaNNTests", dependencies: ["MetaNN", "_TestSupport"]),
        .testTarget(name: "MetaOptimTests", dependencies: ["MetaOptim", "MetaNN", "_TestSupport"]),
        .testTarget(name: "MetaDataTests", dependencies: ["MetaData", "_TestSupport"]),
        .testTarget(name: "MetaEvalTests", dependencies: ["MetaEval", "_TestSupport"]),
        .testTarget(name: "MetaIOTests", dependencies: ["MetaIO", "_TestSupport"]),
        .testTarget(name: "MetaLearnersTests", dependencies: ["MetaLearners", "_TestSupport"]),
        .testTarget(name: "MetaStoreTests", dependencies: ["MetaStore", "_TestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
