// The umbrella: Swift programs `import MetaSwift` and get every layer.
@_exported import MetaTensor
@_exported import MetaAutodiff
@_exported import MetaNN
@_exported import MetaOptim
@_exported import MetaData
@_exported import MetaEval
@_exported import MetaIO
@_exported import MetaLearners
@_exported import MetaStore
