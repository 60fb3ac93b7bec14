import MetaTensor

// Elementwise unary primitives. VJPs that need the function's value take the
// tracked output `y` rather than recomputing it, so second derivatives see
// how the output depends on the input.

extension Variable {
    public func exp() throws -> Variable {
        try record("exp", try value.map(.exp), self) { g, _, y in [try g * y] }
    }

    public func log() throws -> Variable {
        try record("log", try value.map(.log), self) { g, x, _ in [try g / x[0]] }
    }

    public func sqrt() throws -> Variable {
        try record("sqrt", try value.map(.sqrt), self) { g, _, y in [try (g / y) * 0.5] }
    }

    public func tanh() throws -> Variable {
        try record("tanh", try value.map(.tanh), self) { g, _, y in [try g * (1 - y.square())] }
    }

    public func sigmoid() throws -> Variable {
        try record("sigmoid", try value.map(.sigmoid), self) { g, _, y in [try g * (try y * (1 - y))] }
    }

    /// max(x, 0); its derivative, the step function, is a constant mask.
    public func relu() throws -> Variable {
        try record("relu", try value.map(.relu), self) { g, x, _ in [try g * Variable(x[0].value.map(.step))] }
    }

    public func abs() throws -> Variable {
        try record("abs", try value.map(.abs), self) { g, x, _ in [try g * Variable(x[0].value.map(.sign))] }
    }

    public func square() throws -> Variable {
        try record("square", try value.map(.square), self) { g, x, _ in [try g * x[0] * 2] }
    }

    /// 1 / x; d/dx = -1/x² = -y².
    public func reciprocal() throws -> Variable {
        try record("reciprocal", try value.map(.reciprocal), self) { g, _, y in [try -(g * y.square())] }
    }

    /// The Gauss error function erf(x) = 2/√π ∫₀ˣ e^(−t²) dt. Its derivative
    /// 2/√π · e^(−x²) is written in ops, so the second derivative
    /// −2x · 2/√π · e^(−x²) comes out exact.
    public func erf() throws -> Variable {
        try record("erf", try value.map(.erf), self) { g, x, _ in
            [try g * x[0].square().affine(scale: -1).exp() * Self.twoOverSqrtPi]
        }
    }

    static let twoOverSqrtPi = Float(1.1283791670955125739)
}
