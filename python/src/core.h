/*
 * metaswift._core: the CPython extension over the C ABI (include/metaswift.h).
 *
 * Built like CPython's Modules/xxlimited.c: the limited API (abi3, 3.11+),
 * multi-phase initialisation, all state in the module (no C globals), heap
 * types whose tp_dealloc calls the matching ms_*_free. The extension is thin:
 * it moves buffers and handles, releases the GIL around engine work and turns
 * a failed status into metaswift.Error. Ergonomics (dtype conversion, keyword
 * arguments, reprs) live in python/metaswift/.
 */
#ifndef METASWIFT_CORE_H
#define METASWIFT_CORE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "metaswift.h"

typedef struct {
    PyObject *Error;          /* metaswift.Error, a ValueError */
    PyTypeObject *TensorType; /* metaswift._core.Tensor */
    PyTypeObject *ModelType;  /* metaswift._core.Model */
    PyTypeObject *TasksetType;   /* metaswift._core.Taskset */
    PyTypeObject *OptimizerType; /* metaswift._core.Optimizer */
    PyTypeObject *LearnerType;   /* metaswift._core.Learner */
    PyTypeObject *TrainerType;   /* metaswift._core.Trainer */
} core_state;

/*
 * A Tensor owns one ms_tensor handle. The shape is cached at creation (tensors
 * are immutable) in the Py_ssize_t form the buffer protocol hands out.
 */
typedef struct {
    PyObject_HEAD
    ms_tensor handle;
    const float *data;
    int ndim;
    Py_ssize_t size;
    Py_ssize_t *shape;   /* ndim entries, then ndim strides in bytes */
    int freed;           /* set by _free(): the handle is stale, never freed again */
} TensorObject;

typedef struct {
    PyObject_HEAD
    ms_model handle;
    int freed;
} ModelObject;

typedef struct {
    PyObject_HEAD
    ms_taskset handle;
    int freed;
} TasksetObject;

typedef struct {
    PyObject_HEAD
    ms_optimizer handle;
    int freed;
} OptimizerObject;

/* A Learner holds the Model whose handle it was made from, so the Python
 * object (and its handle) outlives every learner that uses it. */
typedef struct {
    PyObject_HEAD
    ms_learner handle;
    PyObject *model;
    int freed;
} LearnerObject;

/* A Trainer holds the Python objects whose handles it was made from. */
typedef struct {
    PyObject_HEAD
    ms_trainer handle;
    PyObject *learner;
    PyObject *taskset;
    PyObject *optimizer;
    int freed;
} TrainerObject;

/* Module state reached from an instance of one of our (final) types. */
core_state *core_state_of(PyObject *self);

/* Raises metaswift.Error carrying ms_last_error() and `status`; returns NULL. */
PyObject *core_raise_status(core_state *st, int status);
/* A new Taskset object owning `handle` (freed here if the object cannot be made). */
PyObject *core_wrap_taskset(core_state *st, ms_taskset handle);

/* Raises metaswift.Error with a formatted message; returns NULL. */
PyObject *core_raise(core_state *st, const char *format, ...);

/*
 * A C-contiguous float32 buffer of `obj`, for argument `name`, with its shape
 * as int64_t. On success the caller must call core_buffer_release.
 */
typedef struct {
    Py_buffer view;
    int64_t shape[MS_MAX_RANK];
} core_buffer;

int core_get_float32_buffer(core_state *st, PyObject *obj, const char *name, core_buffer *out);
/* The same for a buffer the engine writes into (an output array). */
int core_get_writable_float32_buffer(core_state *st, PyObject *obj, const char *name, core_buffer *out);
void core_buffer_release(core_buffer *buf);

/* The buffers of a list of tasks and the ms_task views over them. */
typedef struct {
    core_buffer *buffers; /* 4 per task */
    ms_task *tasks;
    Py_ssize_t count;     /* tasks */
    Py_ssize_t held;      /* buffers acquired so far */
} core_task_views;

/* Reads `tasks`, a sequence of 4-sequences of C-contiguous float32 buffers;
 * errors name tasks[i].x_support etc. On success release with
 * core_task_views_release. */
int core_task_views_get(core_state *st, PyObject *tasks, core_task_views *tv);
void core_task_views_release(core_task_views *tv);
/* An ms_view of an acquired buffer (valid while the buffer is held). */
void core_set_view(ms_view *view, core_buffer *buf);

/* A new Tensor object owning `handle` (freed here on failure). */
PyObject *core_tensor_from_handle(core_state *st, ms_tensor handle);
/* A new Model object owning `handle` (freed here on failure). */
PyObject *core_model_from_handle(core_state *st, ms_model handle);
/* A new Learner object owning `handle` (freed here on failure) and holding `model`. */
PyObject *core_learner_from_handle(core_state *st, ms_learner handle, PyObject *model);

/* A C-contiguous 1-D int64 buffer of `obj` (labels, class ids, predictions),
 * writable when `writable`; its length in out->shape[0]. Release with
 * core_buffer_release. */
int core_get_int64_buffer(core_state *st, PyObject *obj, const char *name, core_buffer *out, int writable);

/* `obj` as an unsigned 64-bit integer (a seed), or metaswift.Error naming `name`. */
int core_uint64_arg(core_state *st, PyObject *obj, const char *name, uint64_t *out);
/* `obj` is an instance of `type`, or metaswift.Error naming `name`. */
int core_check_type(core_state *st, PyObject *obj, PyTypeObject *type, const char *name);

int core_tensor_type_init(PyObject *module, core_state *st);
int core_model_type_init(PyObject *module, core_state *st);
int core_handles_type_init(PyObject *module, core_state *st);
int core_learner_type_init(PyObject *module, core_state *st);
int core_trainer_type_init(PyObject *module, core_state *st);
PyObject *core_new_mlp(PyObject *module, PyObject *args, PyObject *kwargs);
PyObject *core_new_sinusoid(PyObject *module, PyObject *args, PyObject *kwargs);
PyObject *core_new_optimizer(PyObject *module, PyObject *args, PyObject *kwargs);
PyObject *core_new_learner(PyObject *module, PyObject *args, PyObject *kwargs);
PyObject *core_new_trainer(PyObject *module, PyObject *args, PyObject *kwargs);
PyObject *core_task_addresses(PyObject *module, PyObject *tasks);
/* fewshot.c */
PyObject *core_new_taskset_arrays(PyObject *module, PyObject *args, PyObject *kwargs);
PyObject *core_new_conv4(PyObject *module, PyObject *args, PyObject *kwargs);
PyObject *core_new_protonet(PyObject *module, PyObject *args, PyObject *kwargs);
PyObject *core_summarize(PyObject *module, PyObject *args);
PyObject *core_classification_metrics(PyObject *module, PyObject *args);
PyObject *core_class_folds(PyObject *module, PyObject *args);
PyObject *core_class_split(PyObject *module, PyObject *args);
PyObject *core_learner_query_logits(PyObject *self, PyObject *args);
PyObject *core_learner_predict(PyObject *self, PyObject *args);
PyObject *core_learner_evaluate_classification(PyObject *self, PyObject *args);

#endif
