import COpenBLAS

/// OpenBLAS's build configuration and the kernels it chose when it was loaded
/// (DYNAMIC_ARCH builds choose from the CPU, or from `OPENBLAS_CORETYPE`).
public func blasDescription() -> String {
    let config = openblas_get_config().map { String(cString: $0) } ?? "OpenBLAS"
    let core = openblas_get_corename().map { String(cString: $0) } ?? "unknown"
    return "\(config); core: \(core)"
}
