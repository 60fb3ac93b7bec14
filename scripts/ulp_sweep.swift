// The maximum ulp error of VectorMath's tanh and sigmoid (and exp) over every
// Float bit pattern (or every `stride`-th), against Glibc's Double functions.
// Not part of the package: compiled with the kernel file alone, with the
// flags of a release build (drop the last two on a machine without FMA):
//
//     swiftc -O -parse-as-library -target-cpu haswell -D METASWIFT_FMA \
//         Sources/MetaTensor/Kernels/VectorActivations.swift scripts/ulp_sweep.swift -o /tmp/ulp_sweep
//     /tmp/ulp_sweep [stride [smallest |x| [largest |x|]]]
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
    /// ulp_sweep [stride [smallest |x| [largest |x|]]]: both signs of every
    /// stride-th Float between the two magnitudes (default: all finite Floats).
    static func main() {
        let args = CommandLine.arguments.dropFirst().map { $0 }
        let stride = args.count > 0 ? UInt32(args[0])! : 1
        let lo = args.count > 1 ? Float(args[1])!.bitPattern : 0
        let hi = args.count > 2 ? Float(args[2])!.bitPattern : Float.greatestFiniteMagnitude.bitPattern
        let names = ["tanh", "sigmoid", "exp"]
        let refs: [(Double) -> Double] = [{ Glibc.tanh($0) }, { 1 / (1 + Glibc.exp(-$0)) }, { Glibc.exp($0) }]
        var worst = [Double](repeating: 0, count: 3), at = [Float](repeating: 0, count: 3)
        for sign: UInt32 in [0, 0x8000_0000] {
            var pattern = UInt64(lo)
            while pattern <= UInt64(hi) {
                var v = SIMD8<Float>()
                for k in 0..<8 {
                    let b = UInt32(min(pattern + UInt64(k) * UInt64(stride), UInt64(hi)))
                    v[k] = Float(bitPattern: b | sign)
                }
                let out = [VectorMath.tanh(v), VectorMath.sigmoid(v), VectorMath.exp(v)]
                for k in 0..<8 {
                    for f in 0..<3 {
                        let e = ulpError(out[f][k], refs[f](Double(v[k])))
                        if e > worst[f] { worst[f] = e; at[f] = v[k] }
                    }
                }
                pattern += 8 * UInt64(stride)
            }
        }
        for f in 0..<3 {
            print("\(names[f]): max \(worst[f]) ulp at x = \(at[f]) (bits 0x\(String(at[f].bitPattern, radix: 16)))")
        }
    }
}
