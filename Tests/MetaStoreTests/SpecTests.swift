import XCTest
import MetaTensor
import MetaNN
import MetaOptim
import MetaLearners
import MetaStore
import _TestSupport

/// Learner and optimizer specs: their JSON is the recipe format the C ABI
/// records (checked against the text the Python package writes), it reads
/// back to the same spec for every kind, and bad recipes and out-of-range
/// values are refused with messages in the C ABI's words.
final class SpecTests: XCTestCase {
    // MARK: - The format, as the Python package writes it

    /// Metadata "learner" of files `ms.save` wrote (Python, read back with
    /// `safetensors.safe_open(...).metadata()`), for
    /// `ms.MAML(ms.nn.MLP([1, 8, 1]), inner_lr=0.4)`, `ms.MetaSGD(..., inner_lr=0.02)`,
    /// `ms.ANIL(..., inner_lr=0.1, inner_steps=3)`, `ms.Reptile(..., inner_lr=0.01, inner_steps=4, epsilon=0.25)`
    /// and `ms.ProtoNet(..., distance="cosine")`.
    func pythonLearners() throws -> [(String, LearnerSpec)] {
        [
            (#"{"kind":"learner.MAML","arguments":{"model":{"model":null},"inner_lr":{"float":0.4},"inner_steps":{"int":1},"first_order":{"int":0},"loss":{"string":"mse"}}}"#,
             try LearnerSpec(.maml, innerLR: 0.4, loss: .mse)),
            (#"{"kind":"learner.MetaSGD","arguments":{"model":{"model":null},"inner_lr":{"float":0.02},"inner_steps":{"int":1},"first_order":{"int":0},"loss":{"string":"mse"}}}"#,
             try LearnerSpec(.metaSGD, innerLR: 0.02, loss: .mse)),
            (#"{"kind":"learner.ANIL","arguments":{"model":{"model":null},"inner_lr":{"float":0.1},"inner_steps":{"int":3},"first_order":{"int":0},"loss":{"string":"mse"},"head_parameters":{"int":2}}}"#,
             try LearnerSpec(.anil, innerLR: 0.1, innerSteps: 3, loss: .mse)),
            (#"{"kind":"learner.Reptile","arguments":{"model":{"model":null},"inner_lr":{"float":0.01},"inner_steps":{"int":4},"first_order":{"int":1},"loss":{"string":"mse"}}}"#,
             try LearnerSpec(.reptile, innerLR: 0.01, innerSteps: 4, loss: .mse)),
            (#"{"kind":"learner.ProtoNet","arguments":{"model":{"model":null},"distance":{"string":"cosine"}}}"#,
             try LearnerSpec(.protoNet, distance: .cosine)),
        ]
    }

    /// Metadata "optimizer" of files `ms.save` wrote for
    /// `ms.optim.Adam(lr=ms.optim.CosineDecay(0.01, steps=50, final=0.001, warmup=5), betas=(0.8, 0.99))`,
    /// `SGD(lr=0.1, momentum=0.9, nesterov=True)`,
    /// `AdamW(lr=ExponentialDecay(0.1, rate=0.5, every=3, staircase=True), weight_decay=0.05)`,
    /// `Adagrad(lr=0.02, initial_accumulator_value=0.1)`,
    /// `RMSprop(lr=PiecewiseConstant(0.5, [2, 4], [0.25, 0.1]), alpha=0.9)` (values are float32, so
    /// 0.1 is recorded as 0.10000000149011612) and `Adam(lr=1/3)` (all 17 digits kept).
    func pythonOptimizers() throws -> [(String, OptimizerSpec)] {
        [
            (#"{"kind":"schedule.Cosine","arguments":{"base":{"object":{"kind":"optimizer.Adam","arguments":{"lr":{"float":0.01},"beta1":{"float":0.8},"beta2":{"float":0.99},"eps":{"float":1e-08}}}},"lr":{"float":0.01},"steps":{"int":50},"final":{"float":0.001},"warmup":{"int":5}}}"#,
             try OptimizerSpec(.adam, lr: 0.01, beta1: 0.8, beta2: 0.99,
                               schedule: try ScheduleSpec(.cosine, lr: 0.01, steps: 50, final: 0.001, warmup: 5))),
            (#"{"kind":"optimizer.SGD","arguments":{"lr":{"float":0.1},"momentum":{"float":0.9},"nesterov":{"int":1}}}"#,
             try OptimizerSpec(.sgd, lr: 0.1, momentum: 0.9, nesterov: true)),
            (#"{"kind":"schedule.Exponential","arguments":{"base":{"object":{"kind":"optimizer.AdamW","arguments":{"lr":{"float":0.1},"beta1":{"float":0.9},"beta2":{"float":0.999},"eps":{"float":1e-08},"weight_decay":{"float":0.05}}}},"lr":{"float":0.1},"rate":{"float":0.5},"every":{"int":3},"staircase":{"int":1}}}"#,
             try OptimizerSpec(.adamW, lr: 0.1, weightDecay: 0.05,
                               schedule: try ScheduleSpec(.exponential, lr: 0.1, rate: 0.5, every: 3, staircase: true))),
            (#"{"kind":"optimizer.Adagrad","arguments":{"lr":{"float":0.02},"initial_accumulator_value":{"float":0.1},"eps":{"float":1e-10}}}"#,
             try OptimizerSpec(.adagrad, lr: 0.02, initialAccumulator: 0.1)),
            (#"{"kind":"schedule.Piecewise","arguments":{"base":{"object":{"kind":"optimizer.RMSprop","arguments":{"lr":{"float":0.5},"alpha":{"float":0.9},"eps":{"float":1e-08},"momentum":{"float":0}}}},"lr":{"float":0.5},"boundaries":{"ints":[2,4]},"values":{"floats":[0.25,0.10000000149011612],"shape":[2]}}}"#,
             try OptimizerSpec(.rmsprop, lr: 0.5, alpha: 0.9,
                               schedule: try ScheduleSpec(.piecewise, lr: 0.5, boundaries: [2, 4], values: [0.25, 0.1]))),
            (#"{"kind":"optimizer.Adam","arguments":{"lr":{"float":0.3333333333333333},"beta1":{"float":0.9},"beta2":{"float":0.999},"eps":{"float":1e-08}}}"#,
             try OptimizerSpec(.adam, lr: 1.0 / 3)),
        ]
    }

    /// A spec made in Swift writes exactly the text Python's files hold, and
    /// that text reads back to the same spec: format drift fails here.
    func testTheRecipesThePythonPackageWritesAreTheSpecsJSONByteForByte() throws {
        for (text, spec) in try pythonLearners() {
            XCTAssertEqual(try spec.json.serialized, text)
            XCTAssertEqual(try LearnerSpec(json: try JSON.parse(text)), spec, text)
        }
        for (text, spec) in try pythonOptimizers() {
            XCTAssertEqual(try spec.json.serialized, text)
            XCTAssertEqual(try OptimizerSpec(json: try JSON.parse(text)), spec, text)
        }
    }

    // MARK: - Round trips

    func roundTrips(_ spec: LearnerSpec, file: StaticString = #filePath, line: UInt = #line) throws {
        let text = try spec.json.serialized
        let back = try LearnerSpec(json: try JSON.parse(text))
        XCTAssertEqual(back, spec, text, file: file, line: line)
        XCTAssertEqual(try back.json.serialized, text, file: file, line: line)
    }

    func roundTrips(_ spec: OptimizerSpec, file: StaticString = #filePath, line: UInt = #line) throws {
        let text = try spec.json.serialized
        let back = try OptimizerSpec(json: try JSON.parse(text))
        XCTAssertEqual(back, spec, text, file: file, line: line)
        XCTAssertEqual(try back.json.serialized, text, file: file, line: line)
        XCTAssertEqual(back.kind, spec.kind, file: file, line: line)
    }

    func testEveryLearnerKindRoundTripsThroughItsRecipe() throws {
        for kind in LearnerSpec.Kind.allCases {
            switch kind {
            case .protoNet:
                for distance in [ProtoNet.Distance.squaredEuclidean, .cosine] { try roundTrips(try LearnerSpec(kind, distance: distance)) }
                try roundTrips(try LearnerSpec(kind, distance: .cosine, temperature: 10))
            case .baseline:
                try roundTrips(try LearnerSpec(kind, transfer: ["head": .text("cosine"), "scale": .real(10), "lr": .real(0.5),
                                                                "epochs": .integer(3), "seed": .integer(7)]))
            case .logisticProbe:
                try roundTrips(try LearnerSpec(kind, transfer: ["C": .real(0.25), "max_iter": .integer(50)]))
            case .fineTune:
                try roundTrips(try LearnerSpec(kind, transfer: ["backbone_lr": .real(0), "head_lr": .real(0.1),
                                                                "batch_size": .integer(1)]))
            case .reptile:
                try roundTrips(try LearnerSpec(kind, innerLR: 0.25, innerSteps: 7, loss: .mse))
            case .anil:
                try roundTrips(try LearnerSpec(kind, innerLR: 1e-3, innerSteps: 0, firstOrder: true, loss: .crossEntropy,
                                               headParameters: 4))
            case .maml, .metaSGD:
                try roundTrips(try LearnerSpec(kind, innerLR: 0.123456789012345, innerSteps: 10_000, firstOrder: true, loss: .mse))
                if kind == .maml {
                    try roundTrips(try LearnerSpec(kind, innerLR: 0.1, innerOptimizer: "adam"))
                    // Plain gradient descent named explicitly is the default recipe.
                    XCTAssertEqual(try LearnerSpec(kind, innerOptimizer: "sgd"), try LearnerSpec(kind))
                }
            case .alfa:
                try roundTrips(try LearnerSpec(kind, innerLR: 0.02, innerSteps: 3, firstOrder: true, loss: .mse, weightDecay: 1e-3))
            case .mamlPlusPlus:
                try roundTrips(try LearnerSpec(kind, innerLR: 0.4, innerSteps: 2, loss: .mse,
                                               options: ["learn_rates": .integer(0), "msl_epochs": .integer(3),
                                                         "iterations_per_epoch": .integer(7)]))
            case .lstmMetaLearner:
                let spec = try LearnerSpec(kind, innerSteps: 3, firstOrder: false, loss: .mse,
                                           options: ["hidden": .integer(7), "cell": .text("gru")])
                try roundTrips(spec)
                // No step size in its recipe (its network makes its own), and none taken.
                XCTAssertFalse(try spec.json.serialized.contains("inner_lr"))
                XCTAssertThrowsError(try LearnerSpec(kind, innerLR: 0.1))
                XCTAssertThrowsError(try LearnerSpec(kind, options: ["cell": .text("rnn")]))
                XCTAssertThrowsError(try LearnerSpec(kind, options: ["hidden": .integer(0)]))
                let made = try XCTUnwrap(try spec.make(model: try MLP(sizes: [1, 3, 1])) as? LSTMMetaLearner)
                XCTAssertEqual(made.update, try MetaLSTMUpdate(hiddenSize: 7, recurrence: .gru))
                XCTAssertFalse(made.firstOrder)
                XCTAssertTrue(try LearnerSpec(kind).firstOrder, "the paper's first order by default")
            }
            try roundTrips(try LearnerSpec(kind))
        }
    }

    func testTransferRecipesListEveryArgumentAndRefuseBadOnesByName() throws {
        XCTAssertEqual(try LearnerSpec(.logisticProbe).json.serialized,
                       #"{"kind":"learner.LogisticProbe","arguments":{"model":{"model":null},"C":{"float":1},"max_iter":{"int":1000}}}"#)
        XCTAssertEqual(try LearnerSpec(.protoNet).json.serialized,
                       #"{"kind":"learner.ProtoNet","arguments":{"model":{"model":null},"distance":{"string":"euclidean"}}}"#)
        let bad: [(LearnerSpec.Kind, String, LearnerSpec.TransferValue)] = [
            (.baseline, "lr", .real(-1)), (.baseline, "head", .text("foo")), (.baseline, "epochs", .integer(0)),
            (.baseline, "batch_size", .integer(0)), (.baseline, "momentum", .real(1)), (.baseline, "dampening", .real(1.5)),
            (.baseline, "scale", .real(0)), (.baseline, "seed", .integer(-1)), (.baseline, "lr", .text("fast")),
            (.logisticProbe, "C", .real(0)), (.logisticProbe, "max_iter", .integer(0)), (.fineTune, "head_lr", .real(.nan)),
            (.fineTune, "dampening", .real(0.5)),
        ]
        for (kind, name, value) in bad {
            XCTAssertThrowsError(try LearnerSpec(kind, transfer: [name: value]), "\(kind) \(name)") {
                XCTAssertTrue("\($0)".contains(name), "\($0)")
            }
        }
        XCTAssertThrowsError(try LearnerSpec(.protoNet, temperature: 0)) { XCTAssertTrue("\($0)".contains("temperature")) }
        XCTAssertThrowsError(try LearnerSpec(.maml, temperature: 1)) { XCTAssertTrue("\($0)".contains("temperature")) }
        XCTAssertThrowsError(try LearnerSpec(.maml, transfer: [:]))
    }

    func testEveryOptimizerRuleWithEveryScheduleRoundTripsThroughItsRecipe() throws {
        let rules: [OptimizerSpec] = [
            try OptimizerSpec(.sgd, lr: 0.5), try OptimizerSpec(.sgd, lr: 0.1, momentum: 0.5, nesterov: true),
            try OptimizerSpec(.adam, lr: 3e-4, beta1: 0.5, beta2: 0.75, eps: 1e-6),
            try OptimizerSpec(.adamW, lr: 1e-3, beta1: 0, beta2: 0.9, eps: 0, weightDecay: 0.25),
            try OptimizerSpec(.adagrad, lr: 0.05, eps: 1e-7, initialAccumulator: 0.5),
            try OptimizerSpec(.rmsprop, lr: 0.01, momentum: 0.25, eps: 1e-5, alpha: 0.5),
        ]
        XCTAssertEqual(Set(rules.map(\.rule)), Set(OptimizerSpec.Rule.allCases))
        let schedules: [ScheduleSpec?] = [
            nil, try ScheduleSpec(.cosine, lr: 0.2, steps: 100), try ScheduleSpec(.cosine, lr: 0.2, steps: 100, final: 0.01, warmup: 99),
            try ScheduleSpec(.exponential, lr: 0.3, rate: 1), try ScheduleSpec(.exponential, lr: 0.3, rate: 0.9, every: 7, staircase: true),
            try ScheduleSpec(.piecewise, lr: 0.4), try ScheduleSpec(.piecewise, lr: 0.4, boundaries: [1, 5, 2_000_000_000], values: [0.3, 0, 1e-7]),
        ]
        XCTAssertEqual(Set(schedules.compactMap { $0?.kind }), Set(ScheduleSpec.Kind.allCases))
        for rule in rules {
            for schedule in schedules { try roundTrips(rule.scheduled(schedule)) }
        }
    }

    /// What `ms_new` recorded from callers that left arguments out, gave an
    /// integer for a real number, a seed-sized integer as text, or scheduled
    /// an already scheduled optimizer: the defaults fill in, as they did
    /// when the bridge replayed the recipe, and the outer schedule wins.
    func testRecipesWithDefaultsLeftOutAndOtherNumberTypesRead() throws {
        func learner(_ text: String) throws -> LearnerSpec { try LearnerSpec(json: try JSON.parse(text)) }
        func optimizer(_ text: String) throws -> OptimizerSpec { try OptimizerSpec(json: try JSON.parse(text)) }
        XCTAssertEqual(try learner(#"{"kind":"learner.MAML","arguments":{"model":{"model":null}}}"#),
                       try LearnerSpec(.maml, innerLR: 0.01, innerSteps: 1, firstOrder: false, loss: .crossEntropy))
        XCTAssertEqual(try learner(#"{"arguments":{"inner_steps":{"uint":"3"},"inner_lr":{"int":1},"model":{"model":null}},"kind":"learner.Reptile"}"#),
                       try LearnerSpec(.reptile, innerLR: 1, innerSteps: 3, firstOrder: true))
        XCTAssertEqual(try learner(#"{"kind":"learner.ANIL","arguments":{"model":{"model":null}}}"#).headParameters, 2)
        XCTAssertEqual(try learner(#"{"kind":"learner.ProtoNet","arguments":{"model":{"model":null},"distance":{"string":"squared_euclidean"}}}"#),
                       try LearnerSpec(.protoNet))
        XCTAssertEqual(try optimizer(#"{"kind":"optimizer.Adagrad","arguments":{"lr":{"int":2}}}"#),
                       try OptimizerSpec(.adagrad, lr: 2, eps: 1e-10, initialAccumulator: 0))
        let twice = #"{"kind":"schedule.Cosine","arguments":{"base":{"object":{"kind":"schedule.Exponential","arguments":{"base":{"object":{"kind":"optimizer.SGD","arguments":{"lr":{"float":0.1}}}},"lr":{"float":1},"rate":{"float":0.5}}}},"lr":{"float":0.2},"steps":{"int":9}}}"#
        XCTAssertEqual(try optimizer(twice), try OptimizerSpec(.sgd, lr: 0.1, schedule: try ScheduleSpec(.cosine, lr: 0.2, steps: 9)))
        XCTAssertEqual(try OptimizerSpec(.adam, lr: 0.1).scheduled(try ScheduleSpec(.cosine, lr: 1, steps: 2)).scheduled(nil),
                       try OptimizerSpec(.adam, lr: 0.1))
    }

    // MARK: - Refused

    func assertRefused(_ expected: String, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Any) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            XCTAssertEqual("\(error)", expected, file: file, line: line)
        }
    }

    func testBadLearnerRecipesAreRefusedNamingWhatIsWrong() throws {
        let model = #""model":{"model":null}"#
        for (text, expected) in [
            (#"[]"#, #"learner: expected {"kind": ..., "arguments": {...}}, got []"#),
            (#"{"kind":"learner.MAML"}"#, #"learner: expected {"kind": ..., "arguments": {...}}, got {"kind":"learner.MAML"}"#),
            (#"{"kind":"learner.MAML","arguments":{},"extra":1}"#, #"learner: expected {"kind": ..., "arguments": {...}}, got {"kind":"learner.MAML","arguments":{},"extra":1}"#),
            (#"{"kind":"learner.Teapot","arguments":{}}"#,
             "learner: unknown kind 'learner.Teapot'; expected one of learner.MAML, learner.MetaSGD, learner.ANIL, learner.Reptile, learner.ProtoNet, learner.Baseline, learner.LogisticProbe, learner.FineTune, learner.ALFA, learner.MAMLPlusPlus, learner.LSTMMetaLearner"),
            (#"{"kind":"learner.MAML","arguments":{"inner_lr":{"float":-1}}}"#, "learner: inner_lr: must be finite and >= 0, got -1.0"),
            (#"{"kind":"learner.MAML","arguments":{"inner_lr":{"float":1}}}"#,
             #"learner: model: required (the placeholder {"model": null} for the model stored beside the recipe)"#),
            (#"{"kind":"learner.MAML","arguments":{"model":{"model":1}}}"#, #"learner: model: expected the model's placeholder {"model": null}, got {"model":1}"#),
            (#"{"kind":"learner.MAML","arguments":{\#(model),"inner_lr":0.4}}"#, #"learner: inner_lr: expected a typed value such as {"float": 0.1}, got 0.4"#),
            (#"{"kind":"learner.MAML","arguments":{\#(model),"inner_lr":{"float":0.4,"int":1}}}"#,
             #"learner: inner_lr: expected a typed value such as {"float": 0.1}, got {"float":0.4,"int":1}"#),
            (#"{"kind":"learner.MAML","arguments":{\#(model),"inner_lr":{"string":"0.4"}}}"#,
             #"learner: inner_lr: expected a real number ({"float": ...}), got {"string":"0.4"}"#),
            (#"{"kind":"learner.MAML","arguments":{\#(model),"inner_steps":{"int":1.5}}}"#,
             #"learner: inner_steps: expected an integer ({"int": ...}), got {"int":1.5}"#),
            (#"{"kind":"learner.MAML","arguments":{\#(model),"inner_steps":{"uint":"99999999999999999999"}}}"#,
             #"learner: inner_steps: expected an integer ({"int": ...}), got {"uint":"99999999999999999999"}"#),
            (#"{"kind":"learner.MAML","arguments":{\#(model),"inner_steps":{"int":10001}}}"#, "learner: inner_steps: must be in 0...10000, got 10001"),
            (#"{"kind":"learner.MAML","arguments":{\#(model),"first_order":{"int":2}}}"#,
             #"learner: first_order: expected a bool ({"int": 0} or {"int": 1}), got {"int":2}"#),
            (#"{"kind":"learner.MAML","arguments":{\#(model),"loss":{"string":"l1"}}}"#, "learner: loss: expected one of 'mse', 'cross_entropy', got 'l1'"),
            (#"{"kind":"learner.MAML","arguments":{\#(model),"head_parameters":{"int":2}}}"#,
             "learner: head_parameters: not an argument of learner.MAML; expected one of inner_lr, inner_steps, first_order, loss, inner_optimizer, model"),
            (#"{"kind":"learner.MAML","arguments":{\#(model),"inner_optimizer":{"string":"lbfgs"}}}"#,
             "learner: inner_optimizer: expected one of 'sgd', 'adagrad', 'rmsprop', 'adam', got 'lbfgs'"),
            (#"{"kind":"learner.MAMLPlusPlus","arguments":{\#(model),"learn_rates":{"int":2}}}"#,
             "learner: learn_rates: must be in 0...1, got 2"),
            (#"{"kind":"learner.ALFA","arguments":{\#(model),"weight_decay":{"float":-1}}}"#,
             "learner: weight_decay: must be finite and >= 0, got -1.0"),
            (#"{"kind":"learner.Reptile","arguments":{\#(model),"first_order":{"int":0}}}"#, "learner: first_order: Reptile is first-order by definition"),
            (#"{"kind":"learner.Reptile","arguments":{\#(model),"inner_steps":{"int":0}}}"#, "learner: inner_steps: must be in 1...10000, got 0"),
            (#"{"kind":"learner.ProtoNet","arguments":{\#(model),"distance":{"string":"manhattan"}}}"#,
             "learner: distance: unknown distance 'manhattan'; expected one of 'euclidean', 'squared_euclidean', 'cosine'"),
            (#"{"kind":"learner.ProtoNet","arguments":{\#(model),"inner_lr":{"float":0.1}}}"#,
             "learner: inner_lr: not an argument of learner.ProtoNet; expected one of distance, temperature, model"),
        ] {
            assertRefused(expected) { try LearnerSpec(json: try JSON.parse(text)) }
        }
    }

    func testBadOptimizerRecipesAreRefusedNamingWhatIsWrong() throws {
        let base = #""base":{"object":{"kind":"optimizer.SGD","arguments":{"lr":{"float":0.1}}}}"#
        for (text, expected) in [
            (#"{"kind":"optimizer.Nadam","arguments":{}}"#,
             "optimizer: unknown kind 'optimizer.Nadam'; expected one of optimizer.SGD, optimizer.Adam, optimizer.AdamW, "
                + "optimizer.Adagrad, optimizer.RMSprop, schedule.Cosine, schedule.Exponential, schedule.Piecewise"),
            (#"{"kind":"optimizer.Adam","arguments":{}}"#, "optimizer: lr: required"),
            (#"{"kind":"optimizer.Adam","arguments":{"lr":{"float":0.1},"momentum":{"float":0.9}}}"#,
             "optimizer: momentum: not an argument of optimizer.Adam; expected one of lr, beta1, beta2, eps"),
            (#"{"kind":"optimizer.SGD","arguments":{"lr":{"float":0.1},"nesterov":{"int":1}}}"#, "optimizer: nesterov: needs momentum > 0"),
            (#"{"kind":"optimizer.Adam","arguments":{"lr":{"float":0.1},"beta2":{"float":1}}}"#, "optimizer: beta2: must be in [0, 1), got 1.0"),
            (#"{"kind":"optimizer.AdamW","arguments":{"lr":{"float":0.1},"weight_decay":{"float":-0.5}}}"#,
             "optimizer: weight_decay: must be finite and >= 0, got -0.5"),
            (#"{"kind":"optimizer.SGD","arguments":{"lr":{"float":1e39}}}"#, "optimizer: lr: must be finite and >= 0, got 1e+39"),
            (#"{"kind":"schedule.Cosine","arguments":{"lr":{"float":0.1},"steps":{"int":5}}}"#, "optimizer: base: required"),
            (#"{"kind":"schedule.Cosine","arguments":{"base":{"float":1},"lr":{"float":0.1},"steps":{"int":5}}}"#,
             #"optimizer: base: expected a recipe ({"object": {"kind": ..., "arguments": ...}}), got {"float":1}"#),
            (#"{"kind":"schedule.Cosine","arguments":{"base":{"object":{"kind":"optimizer.SGD","arguments":{}}},"lr":{"float":0.1},"steps":{"int":5}}}"#,
             "optimizer: base: lr: required"),
            (#"{"kind":"schedule.Cosine","arguments":{\#(base),"lr":{"float":0.1}}}"#, "optimizer: steps: required"),
            (#"{"kind":"schedule.Cosine","arguments":{\#(base),"lr":{"float":0.1},"steps":{"int":3},"warmup":{"int":5}}}"#,
             "optimizer: steps: must be > warmup (5), got 3"),
            (#"{"kind":"schedule.Cosine","arguments":{\#(base),"lr":{"float":0.1},"steps":{"int":3},"warmup":{"int":-1}}}"#,
             "optimizer: warmup: must be >= 0, got -1"),
            (#"{"kind":"schedule.Exponential","arguments":{\#(base),"lr":{"float":0.1},"rate":{"float":1.5}}}"#,
             "optimizer: rate: must be in (0, 1], got 1.5"),
            (#"{"kind":"schedule.Exponential","arguments":{\#(base),"lr":{"float":0.1},"rate":{"float":0.5},"every":{"int":0}}}"#,
             "optimizer: every: must be > 0, got 0"),
            (#"{"kind":"schedule.Piecewise","arguments":{\#(base),"lr":{"float":0.1},"boundaries":{"ints":[3]},"values":{"floats":[],"shape":[0]}}}"#,
             "optimizer: values: expected one value per boundary (1), got 0"),
            (#"{"kind":"schedule.Piecewise","arguments":{\#(base),"lr":{"float":0.1},"boundaries":{"ints":[3,3]},"values":{"floats":[1,2],"shape":[2]}}}"#,
             "optimizer: boundaries: must be > 0 and strictly increasing, got [3, 3]"),
            (#"{"kind":"schedule.Piecewise","arguments":{\#(base),"lr":{"float":0.1},"boundaries":{"ints":[3]},"values":{"floats":[-1],"shape":[1]}}}"#,
             "optimizer: values: must be finite and >= 0, got -1.0"),
            (#"{"kind":"schedule.Piecewise","arguments":{\#(base),"lr":{"float":0.1},"boundaries":{"ints":[3]},"values":{"floats":[1],"shape":[2]}}}"#,
             #"optimizer: values: expected values and their shape ({"floats": [...], "shape": [n]}), got {"floats":[1],"shape":[2]}"#),
            (#"{"kind":"schedule.Piecewise","arguments":{\#(base),"lr":{"float":0.1},"boundaries":{"ints":[1.5]}}}"#,
             #"optimizer: boundaries: expected a list of integers ({"ints": [...]}), got {"ints":[1.5]}"#),
        ] {
            assertRefused(expected) { try OptimizerSpec(json: try JSON.parse(text)) }
        }
    }

    /// Values out of range are refused by the specs' initialisers, the one
    /// place that checks them, in the words the C ABI has always used (the
    /// Python tests assert several of these messages).
    func testValuesOutOfRangeAndArgumentsAKindDoesNotTakeAreRefused() throws {
        assertRefused("inner_lr: must be finite and >= 0, got -1.0") { try LearnerSpec(.maml, innerLR: -1) }
        assertRefused("inner_lr: must be finite and >= 0, got nan") { try LearnerSpec(.metaSGD, innerLR: .nan) }
        assertRefused("inner_lr: must be finite and >= 0, got 1e+300") { try LearnerSpec(.anil, innerLR: 1e300) }
        assertRefused("inner_steps: must be in 0...10000, got -1") { try LearnerSpec(.maml, innerSteps: -1) }
        assertRefused("inner_steps: must be in 1...10000, got 0") { try LearnerSpec(.reptile, innerSteps: 0) }
        assertRefused("first_order: Reptile is first-order by definition") { try LearnerSpec(.reptile, firstOrder: false) }
        assertRefused("head_parameters: not an argument of learner.MetaSGD") { try LearnerSpec(.metaSGD, headParameters: 1) }
        assertRefused("distance: not an argument of learner.MAML") { try LearnerSpec(.maml, distance: .cosine) }
        assertRefused("loss: not an argument of learner.ProtoNet") { try LearnerSpec(.protoNet, loss: .mse) }
        assertRefused("head_parameters: must be in 1...4 (the model has 4 parameter tensors), got 5") {
            try LearnerSpec(.anil, headParameters: 5).make(model: try MLP(sizes: [1, 8, 1]))
        }
        assertRefused("head_parameters: must be in 1...4 (the model has 4 parameter tensors), got 0") {
            try LearnerSpec(.anil, headParameters: 0).make(model: try MLP(sizes: [1, 8, 1]))
        }

        assertRefused("lr: must be finite and >= 0, got -1.0") { try OptimizerSpec(.sgd, lr: -1) }
        assertRefused("momentum: must be in [0, 1), got 1.0") { try OptimizerSpec(.sgd, lr: 0.1, momentum: 1) }
        assertRefused("nesterov: needs momentum > 0") { try OptimizerSpec(.sgd, lr: 0.1, nesterov: true) }
        assertRefused("beta1: must be in [0, 1), got nan") { try OptimizerSpec(.adamW, lr: 0.1, beta1: .nan) }
        assertRefused("eps: must be finite and >= 0, got -1e-08") { try OptimizerSpec(.adam, lr: 0.1, eps: -1e-8) }
        assertRefused("initial_accumulator_value: must be finite and >= 0, got -1.0") {
            try OptimizerSpec(.adagrad, lr: 0.1, initialAccumulator: -1)
        }
        assertRefused("alpha: must be in [0, 1), got 1.5") { try OptimizerSpec(.rmsprop, lr: 0.1, alpha: 1.5) }
        assertRefused("beta1: not an argument of optimizer.SGD") { try OptimizerSpec(.sgd, lr: 0.1, beta1: 0.9) }
        assertRefused("alpha: not an argument of optimizer.Adam") { try OptimizerSpec(.adam, lr: 0.1, alpha: 0.9) }

        assertRefused("steps: must be > warmup (5), got 3") { try ScheduleSpec(.cosine, lr: 0.1, steps: 3, warmup: 5) }
        assertRefused("steps: required") { try ScheduleSpec(.cosine, lr: 0.1) }
        assertRefused("final: must be finite and >= 0, got inf") { try ScheduleSpec(.cosine, lr: 0.1, steps: 3, final: .infinity) }
        assertRefused("rate: required") { try ScheduleSpec(.exponential, lr: 0.1) }
        assertRefused("rate: must be in (0, 1], got 0.0") { try ScheduleSpec(.exponential, lr: 0.1, rate: 0) }
        assertRefused("values: must be finite and >= 0, got nan") {
            try ScheduleSpec(.piecewise, lr: 0.1, boundaries: [1], values: [.nan])
        }
        assertRefused("boundaries: must be > 0 and strictly increasing, got [4294967296]") {
            try ScheduleSpec(.piecewise, lr: 0.1, boundaries: [1 << 32], values: [1])
        }
        assertRefused("rate: not an argument of schedule.Cosine") { try ScheduleSpec(.cosine, lr: 0.1, steps: 3, rate: 0.5) }
        assertRefused("steps: not an argument of schedule.Piecewise") { try ScheduleSpec(.piecewise, lr: 0.1, steps: 3) }
    }

    // MARK: - What a spec makes

    /// `make` gives the learner the bridge made, with the rate rounded to Float32 once.
    func testASpecMakesItsLearnerWithItsSettings() throws {
        let mlp = try MLP(sizes: [1, 8, 8, 1])
        let maml = try XCTUnwrap(try LearnerSpec(.maml, innerLR: 0.1, innerSteps: 3, firstOrder: true, loss: .mse).make(model: mlp) as? MAML)
        XCTAssertEqual([maml.innerLR, Float(maml.innerSteps)], [Float(0.1), 3])
        XCTAssertTrue(maml.firstOrder)
        XCTAssertEqual(maml.loss, .mse)
        let metaSGD = try XCTUnwrap(try LearnerSpec(.metaSGD, innerLR: 0.02).make(model: mlp) as? MetaSGD)
        XCTAssertEqual(metaSGD.initialLR, 0.02)
        XCTAssertEqual(metaSGD.loss, .crossEntropy)
        XCTAssertEqual(metaSGD.metaParameterSpecs.count, 12)
        XCTAssertEqual(try XCTUnwrap(try LearnerSpec(.anil, headParameters: 4).make(model: mlp) as? ANIL).head, [2, 3, 4, 5])
        XCTAssertEqual(try XCTUnwrap(try LearnerSpec(.reptile, innerSteps: 5).make(model: mlp) as? Reptile).innerSteps, 5)
        XCTAssertEqual(try XCTUnwrap(try LearnerSpec(.protoNet).make(model: mlp) as? ProtoNet).distance, .squaredEuclidean)
        XCTAssertEqual(try XCTUnwrap(try LearnerSpec(.protoNet, distance: .cosine).make(model: mlp) as? ProtoNet).distance, .cosine)
    }

    /// `make` gives MetaOptim's named optimizers, bit for bit, and the
    /// schedule in place of the constant rate.
    func testASpecMakesItsOptimizerAndSchedule() throws {
        var rng = TestRandom(seed: 5)
        let params = [rng.tensor([3, 2]), rng.tensor([2])]
        let grads = (0..<4).map { _ in [rng.tensor([3, 2]), rng.tensor([2])] }
        let cosine = try Schedule.cosineDecay(peak: 0.01, steps: 3, final: 0.001, warmup: 1)
        for (spec, direct) in [
            (try OptimizerSpec(.sgd, lr: 0.1, momentum: 0.9, nesterov: true), try GradientTransformation.sgd(learningRate: 0.1, momentum: 0.9, nesterov: true)),
            (try OptimizerSpec(.adam, lr: 0.01, beta1: 0.8, schedule: try ScheduleSpec(.cosine, lr: 0.01, steps: 3, final: 0.001, warmup: 1)),
             try GradientTransformation.adam(learningRate: cosine, beta1: 0.8)),
            (try OptimizerSpec(.adamW, lr: 1e-3), try GradientTransformation.adamW(learningRate: 1e-3)),
            (try OptimizerSpec(.adagrad, lr: 0.05, initialAccumulator: 0.1), try GradientTransformation.adagrad(learningRate: 0.05, initialAccumulator: 0.1)),
            (try OptimizerSpec(.rmsprop, lr: 0.01), try GradientTransformation.rmsprop(learningRate: 0.01, decay: 0.99)),
        ] {
            XCTAssertEqual(try updates(try spec.make(), params, grads), try updates(direct, params, grads), "\(spec.rule)")
        }
        let piecewise = try OptimizerSpec(.sgd, lr: 1, schedule: try ScheduleSpec(.piecewise, lr: 0.5, boundaries: [2], values: [0.25]))
        XCTAssertEqual((0..<4).map(try piecewise.makeSchedule().callAsFunction), [0.5, 0.5, 0.25, 0.25])
        XCTAssertEqual(try OptimizerSpec(.sgd, lr: 0.3).makeSchedule().constantValue, 0.3)
    }
}

/// The parameters after each of `grads`' updates, as bit patterns.
func updates(_ rule: GradientTransformation, _ params: [Tensor], _ grads: [[Tensor]]) throws -> [[[UInt32]]] {
    var optimizer = try Optimizer(rule, params: params)
    var p = params
    return try grads.map { g in
        p = try optimizer.step(params: p, grads: g)
        return bits(p)
    }
}
