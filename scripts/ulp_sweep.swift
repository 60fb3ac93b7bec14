// The maximum ulp error of VectorMath's tanh and sigmoid (and exp) over every
// Float bit pattern (or every `stride`-th), against Glibc's Double functions.
// Not part of the package: compiled with the kernel file alone, with the
// flags of a release build (drop the last two on a machine without FMA):
//
//     swiftc -O -parse-as-library -target-cpu haswell -D METASWIFT_FMA \
//         Sources/MetaTensor/Kernels/VectorActivations.swift scripts/ulp_sweep.swift -o /tmp/ulp_sweep
//     /tmp/ulp_sweep [stride]
#if canImport(Glibc)
import Glibc
#endif

/// |y − ref| in units of the spacing of Floats at |ref| (2⁻¹⁴⁹ among the
/// subnormals); NaN must meet NaN.
func ulpError(_ y: Float, _ ref: Double) -> Double {
    if ref.isNaN || y.isNaN { return ref.isNaN && y.isNaN ? 0 : .infinity }
    let rounded = Float(ref)  // ±inf past the largest Float (and its half ulp)
    if rounded.isInfinite || y.isInfinite { return y == rounded ? 0 : .infinity }
    let r = Swift.abs(ref)
    var f = Float(r)
    if Double(f) > r { f = f.nextDown }
    return Swift.abs(Double(y) - ref) / Double(f.ulp)
}

@main
struct ULPSweep {
    static func main() {
        let stride = CommandLine.arguments.count > 1 ? UInt64(CommandLine.arguments[1])! : 1
        let names = ["tanh", "sigmoid", "exp"]
        let refs: [(Double) -> Double] = [{ Glibc.tanh($0) }, { 1 / (1 + Glibc.exp(-$0)) }, { Glibc.exp($0) }]
        var worst = [Double](repeating: 0, count: 3), at = [Float](repeating: 0, count: 3)
        var pattern: UInt64 = 0
        while pattern < 1 << 32 {
            var v = SIMD8<Float>()
            for k in 0..<8 { v[k] = Float(bitPattern: UInt32(truncatingIfNeeded: pattern &+ UInt64(k) &* stride)) }
            let out = [VectorMath.tanh(v), VectorMath.sigmoid(v), VectorMath.exp(v)]
            for k in 0..<8 where v[k].isFinite {
                for f in 0..<3 {
                    let e = ulpError(out[f][k], refs[f](Double(v[k])))
                    if e > worst[f] { worst[f] = e; at[f] = v[k] }
                }
            }
            pattern &+= 8 &* stride
        }
        for f in 0..<3 {
            print("\(names[f]): max \(worst[f]) ulp at x = \(at[f]) (bits 0x\(String(at[f].bitPattern, radix: 16)))")
        }
    }
}
