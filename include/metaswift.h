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

/* *out = number of live handles of `kind` ("tensor" or "model"): a
 * diagnostic for leak tests. */
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

#ifdef __cplusplus
}
#endif

#endif /* METASWIFT_H */
