/*
 * metaswift._core: the CPython extension over the C ABI (include/metaswift.h).
 *
 * Built like CPython's Modules/xxlimited.c: the limited API (abi3, 3.11+),
 * multi-phase initialisation, all state in the module (no C globals), heap
 * types whose tp_dealloc frees the handle. The extension is generic: it
 * knows no kind of engine object and no method. It turns keyword arguments into an
 * ms_args bag (values.c), calls ms_new / ms_call with the GIL released, and
 * turns the result bag into a dict; tensors come back as zero-copy buffers.
 * Everything a person touches lives in python/metaswift/.
 */
#ifndef METASWIFT_CORE_H
#define METASWIFT_CORE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "metaswift.h"

typedef struct {
    PyObject *Error;          /* metaswift.Error, a ValueError */
    PyTypeObject *TensorType; /* metaswift._core.Tensor: an engine tensor, a read-only buffer */
    PyTypeObject *ObjectType; /* metaswift._core.Object: any other engine object */
} core_state;

/*
 * A Tensor owns one handle of kind "tensor". The shape is cached at creation
 * (tensors are immutable) in the Py_ssize_t form the buffer protocol hands out.
 */
typedef struct {
    PyObject_HEAD
    ms_object handle;
    const float *data;
    int ndim;
    Py_ssize_t size;
    Py_ssize_t *shape;   /* ndim entries, then ndim strides in bytes */
    int freed;           /* set by _free(): the handle is stale, never freed again */
} TensorObject;

/* An Object owns one handle of any other kind. */
typedef struct {
    PyObject_HEAD
    ms_object handle;
    int freed;
} ObjectObject;

/* Module state reached from an instance of one of our (final) types. */
core_state *core_state_of(PyObject *self);

/* Raises metaswift.Error carrying ms_last_error() and `status`; returns NULL. */
PyObject *core_raise_status(core_state *st, int status);
/* Raises metaswift.Error with a formatted message; returns NULL. */
PyObject *core_raise(core_state *st, const char *format, ...);

/* A new Tensor or Object owning `handle` (freed here on failure). */
PyObject *core_wrap(core_state *st, ms_object handle);
/* A new Tensor owning `handle` (freed here on failure). */
PyObject *core_tensor_from_handle(core_state *st, ms_object handle);

/* A C-contiguous float32 buffer of `obj` for argument `name`, with its shape
 * as int64_t; 0, or -1 with metaswift.Error set. Release with PyBuffer_Release. */
typedef struct {
    Py_buffer view;
    int64_t shape[MS_MAX_RANK];
} core_buffer;
int core_get_float32_buffer(core_state *st, PyObject *obj, const char *name, core_buffer *out);

/* The buffers lent to one call: held until the call returns. */
typedef struct {
    core_buffer **items;
    Py_ssize_t count;
    Py_ssize_t capacity;
} core_lent;

/* values.c: keyword arguments to a new ms_args (*out, freed by the caller
 * with ms_args_free even on failure), lending buffers into `lent`;
 * 0, or -1 with an exception set. */
int core_args_from_kwargs(core_state *st, PyObject *kwargs, ms_args *out, core_lent *lent);
void core_lent_release(core_lent *lent);
/* A result bag as a dict {name: value}; frees the bag. */
PyObject *core_results_to_dict(core_state *st, ms_args results);

/* Testing aid: the addresses of the buffers `kwargs` would lend the engine, in order. */
PyObject *core_lent_addresses(core_state *st, PyObject *kwargs);

/* ms_new(kind, kwargs) / ms_call(object, method, kwargs) with the GIL
 * released around the engine call. */
PyObject *core_new_object(core_state *st, const char *kind, PyObject *kwargs);
PyObject *core_call(core_state *st, ms_object object, const char *method, PyObject *kwargs);

/* dlpack.c: Tensor.__dlpack__(*, stream, max_version, dl_device, copy) and
 * Tensor.__dlpack_device__(), the DLPack protocol over the same memory. */
PyObject *core_tensor_dlpack(PyObject *self, PyObject *args, PyObject *kwargs);
PyObject *core_tensor_dlpack_device(PyObject *self, PyObject *ignored);

int core_tensor_type_init(PyObject *module, core_state *st);
int core_object_type_init(PyObject *module, core_state *st);

#endif
