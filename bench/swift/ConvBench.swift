import MetaSwift

/// Conv4 workloads of few-shot image classification (Omniglot 28x28):
/// ProtoNet episodes and MAML meta-iterations per second.
func runConvBench(seconds: Double) throws {
    print("conv bench: not written yet (seconds \(seconds))")
}
