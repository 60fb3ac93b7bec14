// swift-tools-version:6.0
// metaswift: a meta-learning engine. The layers import one way, bottom up:
// MetaTensor <- MetaAutodiff <- MetaNN / MetaOptim; MetaTensor <- MetaData / MetaEval;
// <- MetaLearners <- MetaSwift (umbrella) <- MetaSwiftC (the C ABI).
import PackageDescription

/// Engine targets are compiled with whole-module optimisation in release builds;
/// kernels index through unsafe pointers with wrapping arithmetic, so `-O`
/// vectorises them without dropping Swift's safety checks elsewhere.
let engineSettings: [SwiftSetting] = [
    .unsafeFlags(["-wmo"], .when(configuration: .release)),
]

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
        .target(name: "MetaTensor", dependencies: ["COpenBLAS"], swiftSettings: engineSettings),
        .target(name: "MetaAutodiff", dependencies: ["MetaTensor"], swiftSettings: engineSettings),
        .target(name: "MetaNN", dependencies: ["MetaAutodiff"], swiftSettings: engineSettings),
        .target(name: "MetaOptim", dependencies: ["MetaAutodiff"], swiftSettings: engineSettings),
        .target(name: "MetaData", dependencies: ["MetaTensor"], swiftSettings: engineSettings),
        .target(name: "MetaEval", dependencies: ["MetaTensor"], swiftSettings: engineSettings),
        .target(name: "MetaLearners", dependencies: ["MetaNN", "MetaOptim", "MetaData", "MetaEval"],
                swiftSettings: engineSettings),
        .target(name: "MetaSwift",
                dependencies: ["MetaTensor", "MetaAutodiff", "MetaNN", "MetaOptim", "MetaData", "MetaEval",
                               "MetaLearners"]),
        .target(name: "MetaSwiftC", dependencies: ["MetaSwift"],
                swiftSettings: engineSettings,
                linkerSettings: [
                    // A self-contained .so: the Swift runtime is linked in, so the
                    // Python package imports on machines without the toolchain.
                    .unsafeFlags(["-static-stdlib", "-Xlinker", "-soname=libmetaswift.so"]),
                ]),
        .executableTarget(name: "maml-sinusoid", dependencies: ["MetaSwift"],
                          path: "Examples/maml-sinusoid"),
        .executableTarget(name: "metaswift-bench", dependencies: ["MetaSwift"], path: "bench/swift"),
        .target(name: "_TestSupport", dependencies: ["MetaAutodiff"]),

        // MARK: - Tests
        .testTarget(name: "MetaTensorTests", dependencies: ["MetaTensor", "_TestSupport"]),
        .testTarget(name: "MetaAutodiffTests", dependencies: ["MetaAutodiff", "_TestSupport"]),
        .testTarget(name: "MetaNNTests", dependencies: ["MetaNN", "_TestSupport"]),
        .testTarget(name: "MetaOptimTests", dependencies: ["MetaOptim", "MetaNN", "_TestSupport"]),
        .testTarget(name: "MetaDataTests", dependencies: ["MetaData", "_TestSupport"]),
        .testTarget(name: "MetaEvalTests", dependencies: ["MetaEval", "_TestSupport"]),
        .testTarget(name: "MetaLearnersTests", dependencies: ["MetaLearners", "_TestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
