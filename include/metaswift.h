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

/* Largest rank accepted for a shape. */
#define MS_MAX_RANK 64

/* ---- Handles ----------------------------------------------------------- */

/* An immutable float32 tensor. */
typedef struct ms_tensor_s* ms_tensor;
/* A model: its architecture and its current parameter values. */
typedef struct ms_model_s* ms_model;
/* A distribution over tasks with its own seeded stream (e.g. sinusoid regression). */
typedef struct ms_taskset_s* ms_taskset;
/* An outer-loop optimizer: a rule with its hyper-parameters, no state. */
typedef struct ms_optimizer_s* ms_optimizer;
/* A gradient-based meta-learner (MAML, Meta-SGD, ANIL, Reptile) over a model. */
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
 * `activation` ("relu", "tanh", "sigmoid" or "identity") after every hidden
 * layer, none after the output.
 * Parameters, in order: W1 (sizes[0], sizes[1]), b1 (sizes[1]), W2, b2, ...;
 * the model computes x @ W + b layer by layer. They are initialised from
 * `seed`: the same seed gives the same parameters, bit for bit.
 * Free the model with ms_model_free. */
int ms_model_new_mlp(ms_model* out, const int64_t* sizes, int64_t count, const char* activation,
                     uint64_t seed);

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

/* ---- Learners ---------------------------------------------------------- */

/* Each constructor makes a learner over `model`: it refers to the model (it
 * does not copy it), so its meta-parameters start as the model's current
 * parameters, and a trainer's result is written back into the model. The
 * model stays alive as long as the learner, even if its handle is freed.
 * inner_lr: finite, >= 0. inner_steps: >= 0 (> 0 for Reptile).
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
 * holding the learner's meta-parameters adapted for `steps` (>= 0) inner
 * steps on the support set (x, y), shaped as a task's x_support and
 * y_support. The views are read in place, only during the call. */
int ms_learner_adapt(ms_model* out, ms_learner learner, const ms_view* x, const ms_view* y, int64_t steps);

/* Evaluates the learner's current meta-parameters on `task_count` (>= 1)
 * tasks drawn from `taskset` with a generator seeded by `seed` (not the
 * taskset's own stream: the same seed gives the same tasks): each task is
 * adapted step by step for `steps` (>= 0) inner steps, and
 *   out_loss_curve[s]      = mean query loss after s steps, s = 0..steps;
 *   out_task_losses[t]     = task t's query loss after `steps` steps;
 *   out_accuracy_curve[s], out_task_accuracies[t]: the same for accuracy,
 *     written only for a "cross_entropy" learner and when not NULL.
 * Arrays have steps + 1 and task_count floats. */
int ms_learner_evaluate(float* out_loss_curve, float* out_accuracy_curve, float* out_task_losses,
                        float* out_task_accuracies, ms_learner learner, ms_taskset taskset,
                        int64_t task_count, int64_t steps, uint64_t seed);

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

#ifdef __cplusplus
}
#endif

#endif /* METASWIFT_H */
