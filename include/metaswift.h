/*
 * metaswift.h: the C ABI of the metaswift meta-learning engine.
 *
 * This is the one public header. It is written by hand (SwiftPM's generated
 * *-Swift.h hides @_cdecl functions behind __OBJC__); python/tests checks
 * that it agrees with the symbols of libmetaswift.so and with the @_cdecl
 * declarations in Sources/MetaSwiftC, name for name and argument for argument.
 *
 * Conventions (the same for every function, present and future):
 *
 *  - Objects are opaque handles, one C type per kind. Every ms_KIND_new* has
 *    exactly one matching ms_KIND_free. Freeing NULL is a no-op. Freeing a
 *    handle twice, a pointer metaswift never returned, or a handle of another
 *    kind is reported (MS_ERR_HANDLE) and does not crash; the same holds for
 *    every function that takes a handle.
 *    A kind with several variants has one constructor per variant, named
 *    for the variant (ms_maml_new and ms_reptile_new make an ms_learner,
 *    freed with ms_learner_free).
 *  - Every function that can fail returns an int status, MS_OK (0) on
 *    success. Results come back through out-parameters, which come first;
 *    inputs follow and are const; a size follows the pointer it describes.
 *    On failure, out-handles are set to NULL and other outputs are unspecified.
 *  - ms_last_error() returns the message of the last failure on the calling
 *    thread. Messages start with the name of the argument at fault, as the
 *    parameter is named in this header (e.g. "x: expected ...").
 *  - Tensors are float32, contiguous, row-major; shapes are int64_t arrays of
 *    `rank` dimensions (0 <= rank <= MS_MAX_RANK, each dimension >= 0).
 *  - Handles may be used from any thread. Tensors are immutable. A model's
 *    parameter updates and forward passes may run concurrently; each forward
 *    pass sees every parameter either before or after a concurrent update.
 */
#ifndef METASWIFT_H
#define METASWIFT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Status codes ------------------------------------------------------ */

#define MS_OK 0
/* A value the function does not accept: NULL pointer, negative size,
 * NaN or infinity, unknown name. */
#define MS_ERR_ARGUMENT 1
/* Shapes that do not fit: wrong rank, wrong feature size, wrong parameter shape. */
#define MS_ERR_SHAPE 2
/* An index outside its range. */
#define MS_ERR_INDEX 3
/* A handle that is NULL where one is required, already freed, not created by
 * metaswift, or of another kind. */
#define MS_ERR_HANDLE 4
/* A failure that is not the caller's fault (a bug in the engine). */
#define MS_ERR_INTERNAL 5
/* Memory the call needs and the process cannot have: more than the system
 * reports available (MemAvailable plus free swap) or than is left under an
 * address-space limit (RLIMIT_AS), or malloc failed. Nothing was changed;
 * the process goes on. */
#define MS_ERR_MEMORY 6

/* Largest rank accepted for a shape. */
#define MS_MAX_RANK 64
/* Most inner steps one call takes (learners' inner_steps, adapt, predict,
 * evaluate): papers adapt for 1 to 100 steps, fine-tuning protocols for a few
 * hundred; a native loop longer than this could not be interrupted. */
#define MS_MAX_INNER_STEPS 10000
/* Most episodes one evaluation call draws (600 is the convention). */
#define MS_MAX_EPISODES 1000000

/* ---- Handles ----------------------------------------------------------- */

/* An immutable float32 tensor. */
typedef struct ms_tensor_s* ms_tensor;
/* A model: its architecture and its current parameter values. */
typedef struct ms_model_s* ms_model;
/* A distribution over tasks with its own seeded stream (sinusoid regression,
 * N-way K-shot episodes of a labelled dataset). */
typedef struct ms_taskset_s* ms_taskset;
/* An outer-loop optimizer: a rule with its hyper-parameters, no state. */
typedef struct ms_optimizer_s* ms_optimizer;
/* A meta-learner over a model: gradient-based (MAML, Meta-SGD, ANIL, Reptile)
 * or metric-based (ProtoNet, whose model is the encoder). */
typedef struct ms_learner_s* ms_learner;
/* An outer loop: a learner, a taskset, an optimizer's state and a generator. */
typedef struct ms_trainer_s* ms_trainer;

/* A float32 array lent to the engine for the duration of one call: `rank`
 * dimensions at `shape` (0 <= rank <= MS_MAX_RANK, each >= 0), prod(shape)
 * contiguous row-major elements at `data`, aligned for float, finite.
 * `data` may be NULL only when the shape has no elements, `shape` only when
 * rank is 0. The engine reads a view during the call without copying it and
 * keeps no reference to it after the call returns. */
typedef struct {
    const float* data;
    const int64_t* shape;
    int64_t rank;
} ms_view;

/* One few-shot task: a support set to adapt on, a query set to evaluate the
 * adapted model on. For a model of input shape (batch, in...) and output
 * (batch, out...): x_support is (n, in...), x_query (m, in...), n, m >= 1.
 * Targets for the "mse" loss: y_support (n, out...), y_query (m, out...).
 * For "cross_entropy" (a model whose output is (batch, classes)): class
 * indices stored as floats, whole numbers in [0, classes), shape (n,) or
 * (n, 1), and (m,) or (m, 1). */
typedef struct {
    ms_view x_support;
    ms_view y_support;
    ms_view x_query;
    ms_view y_query;
} ms_task;

/* Called once by the engine when it no longer needs a buffer lent to it by
 * ms_tensor_wrap. It may be called on any thread, including before
 * ms_tensor_wrap returns. */
typedef void (*ms_release_fn)(void* context);

/* ---- Library ----------------------------------------------------------- */

/* The engine version, e.g. "0.1.0". Static storage; never NULL. */
const char* ms_version(void);

/* OpenBLAS's build configuration and the kernels it chose when it was loaded
 * ("...; core: SkylakeX"). A static string; do not free it. */
const char* ms_blas_info(void);

/* The message of the last failed call on this thread, or "" if none failed.
 * Never NULL. The string belongs to the engine and stays valid until the next
 * failing call on the same thread; copy it to keep it. A successful call does
 * not clear it. */
const char* ms_last_error(void);

/* *out = number of live handles of `kind` ("tensor", "model", "taskset",
 * "optimizer", "learner" or "trainer"): a diagnostic for leak tests. */
int ms_handle_count(int64_t* out, const char* kind);

/* ---- Tensors ----------------------------------------------------------- */

/* *out = a new tensor holding a copy of the prod(shape) floats at `data`.
 * `data` may be NULL only when the shape has no elements, and must be aligned
 * for float. The caller keeps ownership of `data` and `shape`.
 * Free the tensor with ms_tensor_free. */
int ms_tensor_new(ms_tensor* out, const float* data, const int64_t* shape, int64_t rank);

/* *out = a new tensor that views `data` without copying (zero-copy input).
 * On success the engine borrows `data` and calls release(context) exactly once
 * when it no longer needs it: when the tensor and everything sharing its
 * storage are gone (possibly on another thread), or at once if the shape has
 * no elements. Until then the caller must keep `data` alive and must not
 * modify it. On failure release is not called and `data` stays the caller's.
 * `shape` is copied. Free the tensor with ms_tensor_free. */
int ms_tensor_wrap(ms_tensor* out, const float* data, const int64_t* shape, int64_t rank,
                   ms_release_fn release, void* context);

/* Drops the handle. NULL is a no-op. The storage lives on while another
 * tensor or a model shares it. */
int ms_tensor_free(ms_tensor tensor);

/* *out = the rank of `tensor`. */
int ms_tensor_rank(int64_t* out, ms_tensor tensor);

/* Writes the rank(tensor) dimensions of `tensor` to out[0..rank). `capacity`
 * is the length of `out` and must be at least the rank; `out` may be NULL for
 * rank 0. */
int ms_tensor_shape(int64_t* out, int64_t capacity, ms_tensor tensor);

/* *out = the number of elements of `tensor`. */
int ms_tensor_size(int64_t* out, ms_tensor tensor);

/* *out = the tensor's elements, row-major, read-only (zero-copy output).
 * Never NULL, even for an empty tensor. The pointer stays valid until
 * ms_tensor_free(tensor); the elements never change. */
int ms_tensor_data(const float** out, ms_tensor tensor);

/* ---- Models ------------------------------------------------------------ */

/* *out = a new multilayer perceptron with `count` layer widths in `sizes`
 * (count >= 2, each > 0): sizes[0] inputs, sizes[count-1] outputs, and
 * `activation` ("relu", "tanh", "sigmoid", "identity", "gelu" or "softplus") after every hidden
 * layer, none after the output.
 * Parameters, in order: W1 (sizes[0], sizes[1]), b1 (sizes[1]), W2, b2, ...;
 * the model computes x @ W + b layer by layer. They are initialised from
 * `seed`: the same seed gives the same parameters, bit for bit.
 * Free the model with ms_model_free. */
int ms_model_new_mlp(ms_model* out, const int64_t* sizes, int64_t count, const char* activation,
                     uint64_t seed);

/* *out = Conv4, the few-shot image encoder of Vinyals et al. 2016, Finn et
 * al. 2017 and Snell et al. 2017: `blocks` blocks of [3x3 convolution with
 * `hidden` filters and padding 1, batch norm with batch statistics, ReLU,
 * 2x2 max-pool], then flatten, then, when outputs > 0, a linear head of
 * `outputs` classes (MAML's N-way classifier; 0: no head, the model outputs
 * the embedding). in_channels, hidden, blocks > 0; image_size >= 2^blocks.
 * Inputs of ms_model_forward (and tasks) are (batch >= 1, in_channels,
 * image_size, image_size); outputs (batch, outputs), or (batch, hidden *
 * s * s) with s = image_size / 2^blocks (rounded down) without a head:
 * 64 for 28x28 Omniglot images with the standard hidden = 64, blocks = 4.
 * Parameters, in order: "block1.conv.W" (hidden, in_channels, 3, 3),
 * "block1.conv.b", "block1.bn.gamma", "block1.bn.beta", ..., then "head.W"
 * and "head.b" with a head (so ANIL's head_parameters = 2 is the head).
 * Initialised from `seed`. Free with ms_model_free. */
int ms_model_new_conv4(ms_model* out, int64_t in_channels, int64_t hidden, int64_t blocks, int64_t outputs,
                       int64_t image_size, uint64_t seed);

/* Drops the handle. NULL is a no-op. Tensors obtained from
 * ms_model_get_parameter or ms_model_forward stay valid. */
int ms_model_free(ms_model model);

/* *out = the number of parameter tensors of `model`. */
int ms_model_parameter_count(int64_t* out, ms_model model);

/* *out = the name of parameter `index` (e.g. "W1"), a NUL-terminated string
 * owned by the model and valid until ms_model_free(model). */
int ms_model_parameter_name(const char** out, ms_model model, int64_t index);

/* *out = the rank of parameter `index`. */
int ms_model_parameter_rank(int64_t* out, ms_model model, int64_t index);

/* Writes the shape of parameter `index` to out[0..rank); `capacity` is the
 * length of `out`, at least that rank. */
int ms_model_parameter_shape(int64_t* out, int64_t capacity, ms_model model, int64_t index);

/* *out = a new tensor holding the current value of parameter `index`. It
 * shares the model's storage (no copy) and keeps that value even if the
 * parameter is set later. Free it with ms_tensor_free. */
int ms_model_get_parameter(ms_tensor* out, ms_model model, int64_t index);

/* Replaces parameter `index` with a copy of the floats at `data`, whose shape
 * must equal the parameter's and whose values must be finite. */
int ms_model_set_parameter(ms_model model, int64_t index, const float* data, const int64_t* shape,
                           int64_t rank);

/* *out = a new tensor holding model(current parameters, x). For an MLP, `x`
 * has shape (batch, sizes[0]) with finite values, and the output
 * (batch, sizes[count-1]). `x` is only read, during the call.
 * Free the result with ms_tensor_free. */
int ms_model_forward(ms_tensor* out, ms_model model, ms_tensor x);

/* ---- Tasksets ---------------------------------------------------------- */

/* *out = sinusoid regression (Finn et al. 2017, section 5.1): each task draws
 * an amplitude A ~ U[amp_lo, amp_hi] and a phase p ~ U[phase_lo, phase_hi];
 * its `shots` support and `queries` query points have x ~ U[x_lo, x_hi] and
 * y = A sin(x - p), each of shape (n, 1). shots, queries > 0; every bound
 * finite, lo <= hi. `seed` seeds the taskset's own stream, which only
 * ms_taskset_sample draws from. Free it with ms_taskset_free. */
int ms_sinusoid_new(ms_taskset* out, int64_t shots, int64_t queries, float amp_lo, float amp_hi,
                    float phase_lo, float phase_hi, float x_lo, float x_hi, uint64_t seed);

/* *out = N-way K-shot classification episodes (Vinyals et al. 2016) from a
 * labelled dataset: `images` (n, ...) with n >= 1 examples, finite values
 * (NCHW images for Conv4), and labels[i] >= 0 the class of example i
 * (label_count == n). Each episode draws `ways` distinct classes from
 * `classes` (class_count ids, each present in labels, none repeated; NULL
 * and 0 for every label that occurs), then `shots` support and `queries`
 * query examples of each, all distinct: x_support (ways*shots, ...),
 * x_query (ways*queries, ...). Labels are remapped per episode: the i-th
 * class drawn is class i, stored as the float i in y of shape (n,); both
 * sets are grouped by class, class 0 first. ways, shots, queries > 0; ways
 * <= the number of classes; every class needs shots + queries examples.
 * The taskset shares `images` (no copy): make it with ms_tensor_new to copy
 * an array once, or with ms_tensor_wrap to lend it for the taskset's life;
 * several tasksets (class splits, folds) can share one images tensor.
 * `labels` and `classes` are read during the call only. Free with
 * ms_taskset_free. */
int ms_taskset_new_arrays(ms_taskset* out, ms_tensor images, const int64_t* labels, int64_t label_count,
                          int64_t ways, int64_t shots, int64_t queries, const int64_t* classes,
                          int64_t class_count, uint64_t seed);

/* Drops the handle. NULL is a no-op. Trainers made from it keep using it. */
int ms_taskset_free(ms_taskset taskset);

/* The next task of the taskset's own stream, as four new tensors (free each
 * with ms_tensor_free). The same seed gives the same sequence of tasks;
 * concurrent callers each get a distinct task. */
int ms_taskset_sample(ms_tensor* out_x_support, ms_tensor* out_y_support, ms_tensor* out_x_query,
                      ms_tensor* out_y_query, ms_taskset taskset);

/* ---- Optimizers (outer loop) ------------------------------------------ */

/* Every learning rate `lr`, epsilon `eps`, `weight_decay` and
 * `initial_accumulator` must be finite and >= 0; every decay rate (`beta1`,
 * `beta2`, `decay`, `momentum`) in [0, 1). Free with ms_optimizer_free. */

/* SGD with optional heavy-ball or Nesterov momentum (PyTorch's SGD without
 * dampening); nesterov != 0 needs momentum > 0. */
int ms_sgd_new(ms_optimizer* out, float lr, float momentum, int nesterov);

/* Adam (Kingma & Ba 2015), bias-corrected. */
int ms_adam_new(ms_optimizer* out, float lr, float beta1, float beta2, float eps);

/* AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay. */
int ms_adamw_new(ms_optimizer* out, float lr, float beta1, float beta2, float eps, float weight_decay);

/* AdaGrad (Duchi et al. 2011). */
int ms_adagrad_new(ms_optimizer* out, float lr, float initial_accumulator, float eps);

/* RMSProp (Tieleman & Hinton 2012), PyTorch's form; `decay` is PyTorch's alpha. */
int ms_rmsprop_new(ms_optimizer* out, float lr, float decay, float eps, float momentum);

/* Drops the handle. NULL is a no-op. Trainers made from it keep their own state. */
int ms_optimizer_free(ms_optimizer optimizer);

/* Learning-rate schedules. Each makes *out = the rule and hyper-parameters of
 * `base` with a learning rate that changes with the update count t (0 for
 * the first update; a trainer continued with ms_trainer_continue carries on
 * counting). `lr` is the rate's starting or peak value (finite, >= 0).
 *
 * Cosine annealing after a linear warm-up: lr * (t + 1) / warmup for
 * t < warmup, then from lr down to `final` along half a cosine, reached at
 * t = steps and kept after. 0 <= warmup < steps. */
int ms_optimizer_cosine(ms_optimizer* out, ms_optimizer base, float lr, int64_t steps, float final,
                        int64_t warmup);

/* lr * rate^(t / every), rate in (0, 1], every >= 1; staircase != 0 rounds
 * t / every down (PyTorch's StepLR). */
int ms_optimizer_exponential(ms_optimizer* out, ms_optimizer base, float lr, float rate, int64_t every,
                             int staircase);

/* lr until update boundaries[0], then values[k] from update boundaries[k]
 * on: `count` boundaries, > 0 and strictly increasing, and `count` values,
 * finite and >= 0. */
int ms_optimizer_piecewise(ms_optimizer* out, ms_optimizer base, float lr, const int64_t* boundaries,
                           const float* values, int64_t count);

/* out_rates[t] = the learning rate of update t, for t < count. */
int ms_optimizer_learning_rates(float* out_rates, int64_t count, ms_optimizer optimizer);

/* ---- Learners ---------------------------------------------------------- */

/* Each constructor makes a learner over `model`: it refers to the model (it
 * does not copy it), so its meta-parameters start as the model's current
 * parameters, and a trainer's result is written back into the model. The
 * model stays alive as long as the learner, even if its handle is freed.
 * inner_lr: finite, >= 0. inner_steps: 0..MS_MAX_INNER_STEPS (at least 1 for Reptile).
 * first_order: nonzero for the first-order approximation. loss: "mse" or
 * "cross_entropy". Free with ms_learner_free. */

/* MAML (Finn, Abbeel & Levine, ICML 2017); first_order != 0 is FOMAML.
 * Meta-parameters: the model's parameters. */
int ms_maml_new(ms_learner* out, ms_model model, float inner_lr, int64_t inner_steps, int first_order,
                const char* loss);

/* Meta-SGD (Li et al. 2017): a learned inner rate per parameter element.
 * Meta-parameters: the model's parameters, then one rate tensor per
 * parameter, named "lr.<name>", each initialised to inner_lr. */
int ms_metasgd_new(ms_learner* out, ms_model model, float inner_lr, int64_t inner_steps, int first_order,
                   const char* loss);

/* ANIL (Raghu et al., ICLR 2020): the inner loop adapts only the last
 * `head_parameters` parameter tensors (2: the last layer's weight and
 * bias), 1 <= head_parameters <= the model's parameter count. */
int ms_anil_new(ms_learner* out, ms_model model, float inner_lr, int64_t inner_steps, int first_order,
                const char* loss, int64_t head_parameters);

/* Reptile (Nichol, Achiam & Schulman 2018). Its "gradient" is the update
 * direction theta - mean(adapted theta); an outer SGD with lr epsilon is the
 * paper's update. */
int ms_reptile_new(ms_learner* out, ms_model model, float inner_lr, int64_t inner_steps, const char* loss);

/* ProtoNet (Snell, Swersky & Zemel, NeurIPS 2017): `model` is the encoder.
 * The prototype of class c is the mean embedding of its support examples; a
 * query's logit for c is -||f(q) - p_c||^2 for distance "euclidean" (the
 * paper's squared Euclidean distance; "squared_euclidean" is the same) or
 * cos(f(q), p_c) for "cosine". The loss is the query cross-entropy, and
 * nothing adapts per task: meta-parameters are the encoder's parameters,
 * inner steps are 0, ms_learner_adapt returns them unchanged. Its tasks are
 * N-way episodes of any N: y_support covers 0..N-1, y_query lies in it. */
int ms_protonet_new(ms_learner* out, ms_model model, const char* distance);

/* Drops the handle. NULL is a no-op. */
int ms_learner_free(ms_learner learner);

/* *out = the number of meta-parameter tensors. */
int ms_learner_meta_parameter_count(int64_t* out, ms_learner learner);

/* *out = the name of meta-parameter `index`, valid until ms_learner_free. */
int ms_learner_meta_parameter_name(const char** out, ms_learner learner, int64_t index);

/* *out = a new tensor holding the current value of meta-parameter `index`
 * (a model parameter's current value for the first ones). */
int ms_learner_get_meta_parameter(ms_tensor* out, ms_learner learner, int64_t index);

/* Replaces meta-parameter `index` with a copy of `data` (shape equal to the
 * meta-parameter's, finite values); the first ones are the model's parameters. */
int ms_learner_set_meta_parameter(ms_learner learner, int64_t index, const float* data,
                                  const int64_t* shape, int64_t rank);

/* *out_loss = the meta-loss on the `task_count` (>= 1) tasks: the mean over
 * tasks of the query loss after adaptation; out_grads[i] = a new tensor, its
 * gradient with respect to meta-parameter i (Reptile: the update direction),
 * for i < the meta-parameter count <= grads_capacity. Free each gradient
 * with ms_tensor_free. The tasks' views are read in place, only during the
 * call. Every task is checked against the model and the loss first; an error
 * names it ("tasks[3].y_query: ..."). */
int ms_learner_meta_loss_and_grad(float* out_loss, ms_tensor* out_grads, int64_t grads_capacity,
                                  ms_learner learner, const ms_task* tasks, int64_t task_count);

/* *out = a new model (the same architecture; free it with ms_model_free)
 * holding the learner's meta-parameters adapted for `steps` (0..MS_MAX_INNER_STEPS) inner
 * steps on the support set (x, y), shaped as a task's x_support and
 * y_support. The views are read in place, only during the call. */
int ms_learner_adapt(ms_model* out, ms_learner learner, const ms_view* x, const ms_view* y, int64_t steps);

/* Evaluates the learner's current meta-parameters on `task_count` (1..MS_MAX_EPISODES)
 * tasks drawn from `taskset` with a generator seeded by `seed` (not the
 * taskset's own stream: the same seed gives the same tasks): each task is
 * adapted step by step for `steps` (0..MS_MAX_INNER_STEPS) inner steps, and
 *   out_loss_curve[s]      = mean query loss after s steps, s = 0..steps;
 *   out_task_losses[t]     = task t's query loss after `steps` steps;
 *   out_accuracy_curve[s], out_task_accuracies[t]: the same for accuracy,
 *     written only for a "cross_entropy" learner and when not NULL.
 * Arrays have steps + 1 and task_count floats. For ProtoNet, steps must be 0.
 * ms_learner_evaluate_classification adds macro-F1 for classifiers. */
int ms_learner_evaluate(float* out_loss_curve, float* out_accuracy_curve, float* out_task_losses,
                        float* out_task_accuracies, ms_learner learner, ms_taskset taskset,
                        int64_t task_count, int64_t steps, uint64_t seed);

/* Few-shot classification of one episode by a classifier (ProtoNet, or a
 * learner with the "cross_entropy" loss): learns from the support set
 * (x_support, y_support), shaped as a task's, for `steps` (0..MS_MAX_INNER_STEPS) inner
 * steps (ignored by ProtoNet), then scores the queries x_query (m >= 1
 * examples shaped like x_support's). The views are read in place, only
 * during the call.
 * *out = a new tensor (m, classes) of query logits (ProtoNet: classes = N,
 * the support set's classes; others: the model's outputs). */
int ms_learner_query_logits(ms_tensor* out, ms_learner learner, const ms_view* x_support,
                            const ms_view* y_support, const ms_view* x_query, int64_t steps);

/* out[i] = the predicted class of query i, the index of its largest logit
 * (ties to the lower class; for ProtoNet with "euclidean", the nearest
 * prototype), for i < m <= capacity. Arguments as ms_learner_query_logits. */
int ms_learner_predict(int64_t* out, int64_t capacity, ms_learner learner, const ms_view* x_support,
                       const ms_view* y_support, const ms_view* x_query, int64_t steps);

/* Evaluates a classifier on `task_count` (1..MS_MAX_EPISODES) episodes drawn from
 * `taskset` with a generator seeded by `seed` (as ms_learner_evaluate: the
 * same seed gives the same episodes; episode t is the t-th task that
 * ms_taskset_sample returns from the same taskset made with `seed`): each
 * is adapted for `steps` (0..MS_MAX_INNER_STEPS;
 * 0 for ProtoNet) inner steps, one at a time, and
 *   out_loss_curve[s], out_accuracy_curve[s] = mean query cross-entropy and
 *     accuracy after s steps, s = 0..steps;
 *   out_task_losses[t], out_task_accuracies[t], out_task_macro_f1s[t] =
 *     episode t's query cross-entropy, accuracy and macro-F1 over its
 *     classes (see ms_classification_metrics) after `steps` steps.
 * Every array is required: steps + 1 floats for curves, task_count for the
 * others. The mean accuracy's 95% interval is 1.96 std / sqrt(task_count)
 * of out_task_accuracies (ms_summarize). */
int ms_learner_evaluate_classification(float* out_loss_curve, float* out_accuracy_curve, float* out_task_losses,
                                       float* out_task_accuracies, float* out_task_macro_f1s, ms_learner learner,
                                       ms_taskset taskset, int64_t task_count, int64_t steps, uint64_t seed);

/* ---- Trainers ---------------------------------------------------------- */

/* *out = an outer loop for `learner` on tasks from `taskset`: each meta-step
 * samples `meta_batch_size` (>= 1) tasks with the trainer's own generator,
 * seeded by `seed`, takes the learner's meta-gradient and lets a fresh state
 * of `optimizer` update the meta-parameters. The same seed, model and
 * hyper-parameters give the same losses and parameters, bit for bit. The
 * taskset's tasks are checked against the model and the loss here.
 * The trainer keeps the learner, the taskset and the optimizer's rule alive.
 * Free it with ms_trainer_free. */
int ms_trainer_new(ms_trainer* out, ms_learner learner, ms_taskset taskset, ms_optimizer optimizer,
                   int64_t meta_batch_size, uint64_t seed);

/* *out = a trainer for `previous`'s learner that carries on with its
 * optimizer's rule and state (Adam's moments, the update count and with it
 * the position in a learning-rate schedule), on `taskset` with a meta-batch
 * of `meta_batch_size` and a generator seeded by `seed`. Splitting a run
 * into several trainers this way changes nothing but the tasks drawn. */
int ms_trainer_continue(ms_trainer* out, ms_trainer previous, ms_taskset taskset, int64_t meta_batch_size,
                        uint64_t seed);

/* Drops the handle. NULL is a no-op. */
int ms_trainer_free(ms_trainer trainer);

/* Runs `steps` (>= 0) meta-steps in one call and writes meta-step i's
 * meta-loss to out_losses[i] (`capacity` >= steps floats). A run starts from
 * the learner's current meta-parameters (so parameters set on the model
 * between runs are used; the optimizer state carries on) and writes the
 * trained ones back to the model and the learner. A meta-loss that is not
 * finite stops the run with MS_ERR_ARGUMENT: the steps before it are written
 * back and their losses stored (ms_trainer_steps tells how many). */
int ms_trainer_run(float* out_losses, int64_t capacity, ms_trainer trainer, int64_t steps);

/* *out = the number of meta-steps this trainer has taken. */
int ms_trainer_steps(int64_t* out, ms_trainer trainer);

/* ---- Evaluation --------------------------------------------------------- */

/* The mean of `count` (>= 1) finite values and the half-width of its 95%
 * confidence interval, 1.96 std / sqrt(count), as few-shot papers report
 * accuracy over 600 episodes; std has divisor count - ddof (0 <= ddof <
 * count; 0, the population std, is the field's reference code). Trap: for a
 * few values (5 folds) 1.96 gives too narrow an interval. */
int ms_summarize(float* out_mean, float* out_half_width, float* out_std, const float* values, int64_t count,
                 int64_t ddof);

/* Accuracy and macro-F1 of `count` (>= 1) predictions, each of predicted and
 * labels in [0, classes). Macro-F1 is the mean over classes of 2TP / (2TP +
 * FP + FN), skipping a class that is neither predicted nor present
 * (scikit-learn's f1_score(average="macro", zero_division=0)). */
int ms_classification_metrics(float* out_accuracy, float* out_macro_f1, const int64_t* predicted,
                              const int64_t* labels, int64_t count, int64_t classes);

/* K-fold cross-validation over classes: the `count` distinct class ids
 * (each >= 0) are shuffled by `seed` (their order in `classes` does not
 * matter) and cut into `folds` (2 <= folds <= count) test sets of sizes
 * differing by at most one; out[i] = the fold whose test set holds
 * classes[i]. Fold k meta-trains on every class whose out is not k. */
int ms_class_folds(int64_t* out, const int64_t* classes, int64_t count, int64_t folds, uint64_t seed);

/* Disjoint meta-train / meta-validation / meta-test classes: of the `count`
 * distinct class ids (each >= 0), shuffled by `seed`, `train` go to the
 * training set, `validation` to the validation set and `test` (-1: all the
 * rest) to the test set; out[i] = 0, 1 or 2 for the set holding classes[i],
 * -1 for none. */
int ms_class_split(int64_t* out, const int64_t* classes, int64_t count, int64_t train, int64_t validation,
                   int64_t test, uint64_t seed);

#ifdef __cplusplus
}
#endif

#endif /* METASWIFT_H */
