import MetaTensor

// Elementwise binary primitives under broadcasting. Each VJP sums the
// cotangent back to its input's shape with `sum(to:)`, the adjoint of
// broadcasting, so broadcasting needs no special case anywhere else.

extension Variable {
    public static func + (a: Variable, b: Variable) throws -> Variable {
        record("add", try a.value.zip(b.value, .add), a, b) { g, x, _ in
            [try g.sum(to: x[0].shape), try g.sum(to: x[1].shape)]
        }
    }

    public static func - (a: Variable, b: Variable) throws -> Variable {
        record("sub", try a.value.zip(b.value, .sub), a, b) { g, x, _ in
            [try g.sum(to: x[0].shape), try (-g).sum(to: x[1].shape)]
        }
    }

    public static func * (a: Variable, b: Variable) throws -> Variable {
        record("mul", try a.value.zip(b.value, .mul), a, b) { g, x, _ in
            [try (g * x[1]).sum(to: x[0].shape), try (g * x[0]).sum(to: x[1].shape)]
        }
    }

    /// a / b; the VJP for b uses the output: d(a/b)/db = -(a/b)/b.
    public static func / (a: Variable, b: Variable) throws -> Variable {
        record("div", try a.value.zip(b.value, .div), a, b) { g, x, y in
            [try (g / x[1]).sum(to: x[0].shape), try (-(g * y) / x[1]).sum(to: x[1].shape)]
        }
    }

    /// Elementwise maximum; where a == b the cotangent goes to `a`.
    public static func maximum(_ a: Variable, _ b: Variable) throws -> Variable {
        record("maximum", try a.value.zip(b.value, .maximum), a, b) { g, x, _ in
            let ge = Variable(try x[1].value.zip(x[0].value, .greater).affine(scale: -1, shift: 1))
            return [try (g * ge).sum(to: x[0].shape), try (g * (1 - ge)).sum(to: x[1].shape)]
        }
    }

    /// Elementwise minimum; where a == b the cotangent goes to `a`.
    public static func minimum(_ a: Variable, _ b: Variable) throws -> Variable {
        record("minimum", try a.value.zip(b.value, .minimum), a, b) { g, x, _ in
            let le = Variable(try x[0].value.zip(x[1].value, .greater).affine(scale: -1, shift: 1))
            return [try (g * le).sum(to: x[0].shape), try (g * (1 - le)).sum(to: x[1].shape)]
        }
    }

    /// scale * x + shift with constant scalars: one pass, one node.
    public func affine(scale: Float, shift: Float = 0) throws -> Variable {
        try record("affine", try value.affine(scale: scale, shift: shift), self) { g, _, _ in
            [try g.affine(scale: scale)]
        }
    }

    public static prefix func - (a: Variable) throws -> Variable { try a.affine(scale: -1) }
    public static func + (a: Variable, b: Float) throws -> Variable { try a.affine(scale: 1, shift: b) }
    public static func + (a: Float, b: Variable) throws -> Variable { try b.affine(scale: 1, shift: a) }
    public static func - (a: Variable, b: Float) throws -> Variable { try a.affine(scale: 1, shift: -b) }
    public static func - (a: Float, b: Variable) throws -> Variable { try b.affine(scale: -1, shift: a) }
    public static func * (a: Variable, b: Float) throws -> Variable { try a.affine(scale: b) }
    public static func * (a: Float, b: Variable) throws -> Variable { try b.affine(scale: a) }
    public static func / (a: Variable, b: Float) throws -> Variable { try a.affine(scale: 1 / b) }
    public static func / (a: Float, b: Variable) throws -> Variable { try b.reciprocal() * a }
}
