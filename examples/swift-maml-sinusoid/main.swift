// Meta-trains second-order MAML on sinusoid regression (Finn et al. 2017, §5.1)
// and prints the post-adaptation loss on held-out tasks as training goes.
//
//     swift run -c release maml-sinusoid [steps]
import MetaSwift

let steps = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 2000 : 2000
let model = try MLP(sizes: [1, 40, 40, 1], activation: .relu)
let maml = try MAML(model: model, innerLR: 0.01, innerSteps: 1, firstOrder: false, loss: .mse)
var rng = RNG(seed: 0)
let initial = try maml.initialMetaParameters(rng: &rng)
var trainer = try MetaTrainer(learner: maml, metaParameters: initial,
                              optimizer: try .adam(learningRate: 1e-3), metaBatchSize: 25, seed: 1)
let train = try Sinusoid(shots: 10, queries: 10)
var testRNG = RNG(seed: 2)
let heldOut = try Sinusoid(shots: 10, queries: 100).sample(200, rng: &testRNG)

func report(_ label: String) throws {
    let curve = try maml.evaluate(trainer.metaParameters, tasks: heldOut, steps: 10)
    print("\(label): query MSE before adaptation \(curve.loss[0]), after 1 step \(curve.loss[1]), after 10 steps \(curve.loss[10])")
}

try report("step 0")
var recent: [Float] = []
for s in 1...steps {
    recent.append(try trainer.step(train))
    if s % max(steps / 10, 1) == 0 {
        print("step \(s): mean meta-loss over the last \(recent.count) steps \(recent.reduce(0, +) / Float(recent.count))")
        recent.removeAll()
    }
}
try report("step \(steps)")
