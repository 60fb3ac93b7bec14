/*
 * metaswift.h: the C ABI of the metaswift meta-learning engine.
 *
 * This is the one public header. It is written by hand (SwiftPM's generated
 * *-Swift.h hides @_cdecl functions behind __OBJC__); python/tests checks
 * that it agrees with the symbols of libmetaswift.so and with the @_cdecl
 * declarations in Sources/MetaSwiftC, name for name and argument for argument.
 *
 * The design (docs/architecture.md says why): engine objects are created and
 * called by kind and by name, with named, typed arguments, the way
 * TensorFlow's C API sets named attributes on an operation:
 *
 *     ms_args a;  ms_args_new(&a);
 *     ms_args_set_object(a, "model", model);
 *     ms_args_set_float(a, "inner_lr", 0.4);
 *     ms_args_set_int(a, "inner_steps", 1);
 *     ms_object maml;  ms_new(&maml, "learner.MAML", a);   ms_args_free(a);
 *
 *     ms_args r;  ms_call(&r, maml, "meta_loss_and_grad", a2);  ... read r ...;  ms_args_free(r);
 *
 * So the functions below are all there is: a new kind, method or argument
 * is added in Swift (Sources/MetaSwiftC) and adds nothing here. The kinds,
 * their methods and their arguments are listed in docs/architecture.md.
 *
 * Conventions:
 *
 *  - Every object is an opaque ms_object handle (an ms_args is one too).
 *    Each handle returned is freed exactly once (ms_free, ms_args_free).
 *    Freeing NULL is a no-op. Freeing a handle twice, a pointer metaswift never
 *    returned, or a handle of another kind where one kind is required is
 *    reported (MS_ERR_HANDLE) and does not crash; the same holds for every
 *    function that takes a handle. An object keeps alive the objects it was
 *    made from (a learner its model), whatever happens to their handles.
 *  - Every function that can fail returns an int status, MS_OK (0) on
 *    success. Results come back through out-parameters, which come first;
 *    inputs follow and are const; a size follows the pointer it describes.
 *    On failure, out-handles are set to NULL and other outputs are unspecified.
 *  - ms_last_error() returns the message of the last failure on the calling
 *    thread. Messages start with the name of the argument at fault, as the
 *    argument is named in the call (e.g. "inner_lr: must be finite and >= 0,
 *    got nan"). Every argument is checked before any engine work; an
 *    argument that the kind or method does not take is refused by name.
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
 * NaN or infinity, unknown name, unknown argument. */
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

/* Types of the values in an ms_args (ms_args_type). */
#define MS_NONE 0    /* explicitly nothing: the argument takes its default */
#define MS_INT 1     /* int64_t (also bools: 0 or 1) */
#define MS_UINT 2    /* uint64_t (seeds of 2^63 and more) */
#define MS_FLOAT 3   /* double */
#define MS_STRING 4  /* UTF-8 text */
#define MS_OBJECT 5  /* an engine object (results: a tensor is an object of kind "tensor") */
#define MS_VIEW 6    /* a float32 array lent by the caller */
#define MS_INTS 7    /* an int64_t array */
#define MS_OBJECTS 8 /* a list of engine objects */
#define MS_VIEWS 9   /* a list of float32 arrays lent by the caller */

/* ---- Handles ----------------------------------------------------------- */

/* An engine object: a tensor, model, taskset, optimizer, learner, trainer... */
typedef struct ms_object_s* ms_object;
/* A bag of named, typed values: the arguments of a call, or its results. */
typedef struct ms_args_s* ms_args;

/* A float32 array lent to the engine: `rank` dimensions at `shape`
 * (0 <= rank <= MS_MAX_RANK, each >= 0), prod(shape) contiguous row-major
 * elements at `data`, aligned for float. `data` may be NULL only when the
 * shape has no elements, `shape` only when rank is 0. */
typedef struct {
    const float* data;
    const int64_t* shape;
    int64_t rank;
} ms_view;

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

/* *out = number of live handles of `kind` ("tensor", "model", "args", ...):
 * a diagnostic for leak tests. */
int ms_handle_count(int64_t* out, const char* kind);

/* ---- Objects ----------------------------------------------------------- */

/* *out = a new object of `kind` ("learner.MAML", "model.Conv4", ...) made
 * from the named arguments in `args` (NULL: none). `args` is only read; the
 * caller frees it. Views in `args` are read during the call; an object that
 * keeps an array copies it (use ms_tensor_wrap to share one instead). */
int ms_new(ms_object* out, const char* kind, const ms_args args);

/* Calls `method` of `object` with the named arguments in `args` (NULL: none)
 * and sets *out to a new bag of its named results (free it with
 * ms_args_free). With `object` NULL, calls the engine function named
 * `method` ("summarize", "class_split", ...). Views in `args` are read
 * during the call only; results never share the caller's memory. The call
 * may take long (a training run); it holds no lock of the caller's. */
int ms_call(ms_args* out, const ms_object object, const char* method, const ms_args args);

/* Frees an object handle (not an ms_args: see ms_args_free). NULL is a no-op. */
int ms_free(ms_object object);

/* *out = the family of `object` ("tensor", "model", "learner", ...), a
 * static string. */
int ms_kind(const char** out, const ms_object object);

/* ---- Tensors ----------------------------------------------------------- */

/* *out = a tensor over the caller's prod(shape) floats at `data`, without a
 * copy. The caller keeps the buffer valid and unchanged until the engine
 * calls release(context), once, when the last user of the tensor is gone
 * (which may be long after the handle is freed: a taskset keeps its images).
 * Values are checked where the tensor is used. */
int ms_tensor_wrap(ms_object* out, const float* data, const int64_t* shape, int64_t rank,
                   ms_release_fn release, void* context);

/* The data, rank and shape of a tensor: *out_data points to its prod(shape)
 * floats (NULL or dangling when empty), valid until the handle is freed;
 * the shape is written to out_shape, which holds `capacity` entries. */
int ms_tensor_info(const float** out_data, int64_t* out_rank, int64_t* out_shape, int64_t capacity,
                   const ms_object tensor);

/* ---- Argument bags ----------------------------------------------------- */

/* *out = a new, empty bag. */
int ms_args_new(ms_args* out);
/* Frees a bag and what it holds (object references; never lent memory). */
int ms_args_free(ms_args args);

/* Setters: each adds one named value; a name may be set once per bag. Names
 * and strings are copied. Objects are referenced by the bag until it is
 * freed. Views are lent: the memory must stay valid and unchanged until the
 * bag is freed or the call that reads it returns, whichever is later. */
int ms_args_set_none(ms_args args, const char* name);
int ms_args_set_int(ms_args args, const char* name, int64_t value);
int ms_args_set_uint(ms_args args, const char* name, uint64_t value);
int ms_args_set_float(ms_args args, const char* name, double value);
int ms_args_set_string(ms_args args, const char* name, const char* value);
int ms_args_set_object(ms_args args, const char* name, const ms_object value);
int ms_args_set_objects(ms_args args, const char* name, const ms_object* values, int64_t count);
int ms_args_set_view(ms_args args, const char* name, const float* data, const int64_t* shape, int64_t rank);
int ms_args_set_views(ms_args args, const char* name, const ms_view* views, int64_t count);
int ms_args_set_ints(ms_args args, const char* name, const int64_t* values, int64_t count);

/* Readers, by position 0 <= index < count, in the order the values were set.
 * Strings and names belong to the bag and live as long as it. */
int ms_args_count(int64_t* out, const ms_args args);
int ms_args_name(const char** out, const ms_args args, int64_t index);
int ms_args_type(int* out, const ms_args args, int64_t index);
/* Elements of an MS_INTS, MS_OBJECTS or MS_VIEWS value (1 for a scalar). */
int ms_args_length(int64_t* out, const ms_args args, int64_t index);
int ms_args_get_int(int64_t* out, const ms_args args, int64_t index);
int ms_args_get_float(double* out, const ms_args args, int64_t index);
int ms_args_get_string(const char** out, const ms_args args, int64_t index);
/* A new handle to the object (free it with ms_free). */
int ms_args_get_object(ms_object* out, const ms_args args, int64_t index);
/* New handles to the objects, into `out` of `capacity` entries. */
int ms_args_get_objects(ms_object* out, int64_t capacity, const ms_args args, int64_t index);
/* A copy of the integers, into `out` of `capacity` entries. */
int ms_args_get_ints(int64_t* out, int64_t capacity, const ms_args args, int64_t index);

#ifdef __cplusplus
}
#endif

#endif /* METASWIFT_H */
