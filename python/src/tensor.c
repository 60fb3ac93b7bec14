/*
 * metaswift._core.Tensor: one engine tensor handle, exported read-only through the
 * buffer protocol so numpy.asarray(tensor) views engine memory without a copy
 * and keeps the tensor (and so the engine storage) alive; DLPack exports the
 * same memory (dlpack.c).
 */
#include "core.h"

#include <string.h>

/* The context of a buffer lent to the engine by ms_tensor_wrap. */
static void
release_lent_buffer(void *context)
{
    /* The engine may drop its last reference on any thread, with or without
     * the GIL; PyGILState_Ensure takes it in either case (and makes
     * PyMem_Malloc/PyMem_Free, the limited API's allocator, safe here). */
    PyGILState_STATE gil = PyGILState_Ensure();
    Py_buffer *view = (Py_buffer *)context;
    PyBuffer_Release(view);
    PyMem_Free(view);
    PyGILState_Release(gil);
}

PyObject *
core_tensor_from_handle(core_state *st, ms_object handle)
{
    int64_t rank = 0, size = 1;
    int64_t dims[MS_MAX_RANK];
    const float *data = NULL;
    int status = ms_tensor_info(&data, &rank, dims, MS_MAX_RANK, handle);
    if (status != MS_OK) {
        core_raise_status(st, status);
        (void)ms_free(handle);
        return NULL;
    }
    for (int64_t i = 0; i < rank; i++) {
        size *= dims[i];
    }
    Py_ssize_t *shape = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(2 * rank + 1));
    if (shape == NULL) {
        (void)ms_free(handle);
        return PyErr_NoMemory();
    }
    Py_ssize_t stride = sizeof(float);
    for (int64_t i = rank - 1; i >= 0; i--) {
        shape[i] = (Py_ssize_t)dims[i];
        shape[rank + i] = stride;
        stride *= (Py_ssize_t)dims[i];
    }
    allocfunc alloc = (allocfunc)PyType_GetSlot(st->TensorType, Py_tp_alloc);
    TensorObject *self = (TensorObject *)alloc(st->TensorType, 0);
    if (self == NULL) {
        PyMem_Free(shape);
        (void)ms_free(handle);
        return NULL;
    }
    self->handle = handle;
    self->data = data;
    self->ndim = (int)rank;
    self->size = (Py_ssize_t)size;
    self->shape = shape;
    self->freed = 0;
    return (PyObject *)self;
}

static PyObject *
Tensor_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"data", "copy", NULL};
    PyObject *data;
    int copy = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|$p:Tensor", keywords, &data, &copy)) {
        return NULL;
    }
    core_state *st = PyType_GetModuleState(type);
    core_buffer buf;
    if (core_get_float32_buffer(st, data, "data", &buf) < 0) {
        return NULL;
    }
    ms_object handle = NULL;
    int status;
    if (copy) {
        PyBuffer_Release(&buf.view);
        PyObject *kwargs = Py_BuildValue("{sO}", "values", data);
        PyObject *made = kwargs ? core_new_object(st, "tensor", kwargs) : NULL;
        Py_XDECREF(kwargs);
        return made;
    } else {
        /* Lend the buffer: the engine releases it through release_lent_buffer
         * when its last tensor goes, so the view moves to the heap. */
        Py_buffer *lent = PyMem_Malloc(sizeof(Py_buffer));
        if (lent == NULL) {
            PyBuffer_Release(&buf.view);
            return PyErr_NoMemory();
        }
        *lent = buf.view;
        status = ms_tensor_wrap(&handle, lent->buf, buf.shape, lent->ndim, release_lent_buffer, lent);
        if (status != MS_OK) { /* on failure the buffer is still ours */
            PyBuffer_Release(lent);
            PyMem_Free(lent);
        }
    }
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    return core_tensor_from_handle(st, handle);
}

static void
Tensor_dealloc(TensorObject *self)
{
    PyTypeObject *tp = Py_TYPE((PyObject *)self);
    if (!self->freed) {
        /* Status ignored: a destructor cannot raise, and a live handle owned
         * by this object always frees. */
        (void)ms_free(self->handle);
    }
    PyMem_Free(self->shape);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    tp_free(self);
    Py_DECREF(tp);
}

static int
Tensor_getbuffer(TensorObject *self, Py_buffer *view, int flags)
{
    if (flags & PyBUF_WRITABLE) {
        PyErr_SetString(PyExc_BufferError,
                        "metaswift tensors are immutable: the buffer is read-only (copy it to write)");
        view->obj = NULL;
        return -1;
    }
    view->buf = (void *)self->data;
    view->obj = Py_NewRef((PyObject *)self);
    view->len = self->size * (Py_ssize_t)sizeof(float);
    view->readonly = 1;
    view->itemsize = sizeof(float);
    view->format = (flags & PyBUF_FORMAT) ? "f" : NULL;
    if ((flags & PyBUF_ND) == PyBUF_ND) {
        view->ndim = self->ndim;
        view->shape = self->shape;
    } else { /* a flat byte view, as PyBuffer_FillInfo gives */
        view->ndim = 1;
        view->shape = NULL;
    }
    view->strides = ((flags & PyBUF_STRIDES) == PyBUF_STRIDES) ? self->shape + self->ndim : NULL;
    view->suboffsets = NULL;
    view->internal = NULL;
    return 0;
}

static PyObject *
Tensor_get_shape(TensorObject *self, void *Py_UNUSED(closure))
{
    PyObject *shape = PyTuple_New(self->ndim);
    if (shape == NULL) {
        return NULL;
    }
    for (int i = 0; i < self->ndim; i++) {
        PyObject *d = PyLong_FromSsize_t(self->shape[i]);
        if (d == NULL) {
            Py_DECREF(shape);
            return NULL;
        }
        PyTuple_SetItem(shape, i, d);
    }
    return shape;
}

static PyObject *
Tensor_get_ndim(TensorObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromLong(self->ndim);
}

static PyObject *
Tensor_get_size(TensorObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromSsize_t(self->size);
}

static PyObject *
Tensor_get_address(TensorObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromVoidPtr((void *)self->data);
}

static PyObject *
Tensor_free(TensorObject *self, PyObject *Py_UNUSED(ignored))
{
    /* Testing aid: frees the handle now but keeps its stale value, so later
     * calls reach the engine, which must refuse them (and a second _free is a
     * detected double free). The object never frees it again. */
    int status = ms_free(self->handle);
    self->freed = 1;
    if (status != MS_OK) {
        return core_raise_status(core_state_of((PyObject *)self), status);
    }
    Py_RETURN_NONE;
}

static PyObject *
Tensor_repr(TensorObject *self)
{
    PyObject *shape = Tensor_get_shape(self, NULL);
    if (shape == NULL) {
        return NULL;
    }
    PyObject *repr = PyUnicode_FromFormat("<metaswift._core.Tensor float32 shape=%R%s>", shape,
                                          self->freed ? " (freed)" : "");
    Py_DECREF(shape);
    return repr;
}

static PyGetSetDef Tensor_getset[] = {
    {"shape", (getter)Tensor_get_shape, NULL, PyDoc_STR("The dimensions, as a tuple."), NULL},
    {"ndim", (getter)Tensor_get_ndim, NULL, PyDoc_STR("The rank."), NULL},
    {"size", (getter)Tensor_get_size, NULL, PyDoc_STR("The number of elements."), NULL},
    {"_address", (getter)Tensor_get_address, NULL,
     PyDoc_STR("Address of the engine's elements (for zero-copy tests)."), NULL},
    {NULL},
};

static PyMethodDef Tensor_methods[] = {
    {"__dlpack__", (PyCFunction)(void (*)(void))core_tensor_dlpack, METH_VARARGS | METH_KEYWORDS,
     PyDoc_STR("__dlpack__($self, /, *, stream=None, max_version=None, dl_device=None, copy=None)\n--\n\n"
               "A DLPack capsule viewing the tensor's engine memory (no copy), for from_dlpack().\n"
               "With max_version >= (1, 0) the capsule is versioned and flagged read-only;\n"
               "without, it is the legacy capsule, which cannot say read-only: do not write\n"
               "through what a legacy consumer makes of it. copy=True exports a writable copy.")},
    {"__dlpack_device__", core_tensor_dlpack_device, METH_NOARGS,
     PyDoc_STR("__dlpack_device__($self, /)\n--\n\n(1, 0): kDLCPU, device 0.")},
    {"_free", (PyCFunction)Tensor_free, METH_NOARGS,
     PyDoc_STR("Testing aid: free the engine handle now; later calls must fail cleanly.")},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Tensor_slots[] = {
    {Py_tp_doc, (void *)PyDoc_STR(
        "Tensor(data, *, copy=True)\n--\n\n"
        "An immutable float32 engine tensor (an ms_object of kind tensor).\n\n"
        "`data` must export a C-contiguous float32 buffer. With copy=True the engine\n"
        "copies it; with copy=False the engine views it without copying and keeps the\n"
        "exporter alive until the engine is done with it; do not modify it meanwhile.\n"
        "numpy.asarray(tensor) is a read-only view of engine memory (no copy), and so is\n"
        "numpy.from_dlpack(tensor) (the DLPack protocol: __dlpack__, __dlpack_device__).")},
    {Py_tp_new, Tensor_new},
    {Py_tp_dealloc, Tensor_dealloc},
    {Py_tp_repr, Tensor_repr},
    {Py_tp_getset, Tensor_getset},
    {Py_tp_methods, Tensor_methods},
    {Py_bf_getbuffer, Tensor_getbuffer},
    {0, NULL},
};

/* No GC slots: a Tensor holds no Python references (a lent buffer's exporter
 * is held by the engine, and released through release_lent_buffer). */
static PyType_Spec Tensor_spec = {
    .name = "metaswift._core.Tensor",
    .basicsize = sizeof(TensorObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Tensor_slots,
};

int
core_tensor_type_init(PyObject *module, core_state *st)
{
    st->TensorType = (PyTypeObject *)PyType_FromModuleAndSpec(module, &Tensor_spec, NULL);
    if (st->TensorType == NULL) {
        return -1;
    }
    return PyModule_AddType(module, st->TensorType);
}
