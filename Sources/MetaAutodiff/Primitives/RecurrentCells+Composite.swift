import MetaTensor

// The recurrent cells' arithmetic composed from primitives: what the fused
// `lstmCell` and `gruCell` compute, kept as their reference (tests and
// benchmarks compare against it) and as the slow path that differentiates
// their backward passes.

extension Variable {
    /// `lstmCell` as a composition of slices, sigmoid, tanh, products and sums.
    public static func lstmCellComposite(gates z: Variable, cell c: Variable) throws -> (h: Variable, c: Variable) {
        guard z.rank == 2, z.shape[1] % 4 == 0, z.shape[1] > 0, c.shape == [z.shape[0], z.shape[1] / 4] else {
            throw MetaError.shape("lstmCell: gates (N, 4H) and cell (N, H) expected, got \(z.shape) and \(c.shape)")
        }
        let h = c.shape[1]
        let i = try z.slice(axis: 1, range: 0..<h).sigmoid()
        let f = try z.slice(axis: 1, range: h..<(2 * h)).sigmoid()
        let g = try z.slice(axis: 1, range: (2 * h)..<(3 * h)).tanh()
        let o = try z.slice(axis: 1, range: (3 * h)..<(4 * h)).sigmoid()
        let next = try f * c + i * g
        return (try o * next.tanh(), next)
    }

    /// `gruCell` as a composition of slices, sigmoid, tanh, products and sums.
    public static func gruCellComposite(input a: Variable, hidden b: Variable, state h: Variable) throws -> Variable {
        guard a.rank == 2, a.shape[1] % 3 == 0, a.shape[1] > 0, b.shape == a.shape,
              h.shape == [a.shape[0], a.shape[1] / 3] else {
            throw MetaError.shape("gruCell: projections (N, 3H) and state (N, H) expected, got \(a.shape), \(b.shape) and \(h.shape)")
        }
        let hs = h.shape[1]
        let rz = try (a.slice(axis: 1, range: 0..<(2 * hs)) + b.slice(axis: 1, range: 0..<(2 * hs))).sigmoid()
        let r = try rz.slice(axis: 1, range: 0..<hs)
        let z = try rz.slice(axis: 1, range: hs..<(2 * hs))
        let candidate = try (a.slice(axis: 1, range: (2 * hs)..<(3 * hs)) + r * b.slice(axis: 1, range: (2 * hs)..<(3 * hs))).tanh()
        // (1 − z) ⊙ n + z ⊙ h = n + z ⊙ (h − n): one multiply fewer.
        return try candidate + z * (h - candidate)
    }
}
