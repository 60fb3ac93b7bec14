import MetaTensor

// Elementwise unary primitives. VJPs that need the function's value take the
// tracked output `y` rather than recomputing it, so second derivatives see
// how the output depends on the input.

extension Variable {
    public func exp() -> Variable {
        record("exp", value.map(.exp), self) { g, _, y in [try g * y] }
    }

    public func log() -> Variable {
        record("log", value.map(.log), self) { g, x, _ in [try g / x[0]] }
    }

    public func sqrt() -> Variable {
        record("sqrt", value.map(.sqrt), self) { g, _, y in [(try g / y) * 0.5] }
    }

    public func tanh() -> Variable {
        record("tanh", value.map(.tanh), self) { g, _, y in [try g * (1 - y.square())] }
    }

    public func sigmoid() -> Variable {
        record("sigmoid", value.map(.sigmoid), self) { g, _, y in [try g * (try y * (1 - y))] }
    }

    /// max(x, 0); its derivative, the step function, is a constant mask.
    public func relu() -> Variable {
        record("relu", value.map(.relu), self) { g, x, _ in [try g * Variable(x[0].value.map(.step))] }
    }

    public func abs() -> Variable {
        record("abs", value.map(.abs), self) { g, x, _ in [try g * Variable(x[0].value.map(.sign))] }
    }

    public func square() -> Variable {
        record("square", value.map(.square), self) { g, x, _ in [try g * x[0] * 2] }
    }

    /// 1 / x; d/dx = -1/x² = -y².
    public func reciprocal() -> Variable {
        record("reciprocal", value.map(.reciprocal), self) { g, _, y in [try -(g * y.square())] }
    }
}
