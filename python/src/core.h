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

/* Module state reached from an instance of one of our (final) types. */
core_state *core_state_of(PyObject *self);

/* Raises metaswift.Error carrying ms_last_error() and `status`; returns NULL. */
PyObject *core_raise_status(core_state *st, int status);

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
void core_buffer_release(core_buffer *buf);

/* A new Tensor object owning `handle` (freed here on failure). */
PyObject *core_tensor_from_handle(core_state *st, ms_tensor handle);

int core_tensor_type_init(PyObject *module, core_state *st);
int core_model_type_init(PyObject *module, core_state *st);
PyObject *core_new_mlp(PyObject *module, PyObject *args, PyObject *kwargs);

#endif
