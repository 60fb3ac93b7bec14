/*
 * The DLPack protocol on metaswift._core.Tensor: __dlpack__ and
 * __dlpack_device__, as the Python array API standard specifies them
 * (https://dmlc.github.io/dlpack/latest/python_spec.html), so that
 * numpy.from_dlpack(tensor), torch.from_dlpack(tensor) and others view engine
 * memory without a copy.
 *
 * A consumer that passes max_version >= (1, 0) gets a "dltensor_versioned"
 * capsule flagged read-only (engine tensors are immutable). One that passes no
 * max_version gets the legacy "dltensor" capsule, which has no way to say
 * read-only: such a consumer may hand out a writable view of engine memory,
 * and writing through it changes what the engine treats as constant.
 */
#include "core.h"
#include "dlpack.h"

#include <string.h>

/*
 * One allocation per export, freed by the deleter: the managed tensor at the
 * start (so the `self` a deleter receives is the allocation), then the shape
 * and strides, then, for copy=True, the copied elements.
 */
typedef struct {
    union {
        DLManagedTensorVersioned versioned;
        DLManagedTensor legacy;
    } managed;
    int64_t dims[]; /* ndim shape entries, then ndim strides */
} Export;

static void
release_export(void *export, PyObject *owner)
{
    /* A consumer may call the deleter after the interpreter has finalized (from
     * its own exit handlers): then leak, as touching Python would crash. */
    if (!Py_IsInitialized()) {
        return;
    }
    /* Consumers call the deleter from any thread, with or without the GIL. */
    PyGILState_STATE gil = PyGILState_Ensure();
    Py_XDECREF(owner);
    PyMem_Free(export);
    PyGILState_Release(gil);
}

static void
delete_versioned(DLManagedTensorVersioned *self)
{
    release_export(self, self->manager_ctx);
}

static void
delete_legacy(DLManagedTensor *self)
{
    release_export(self, self->manager_ctx);
}

static void
capsule_destructor(PyObject *capsule)
{
    /* A consumer that took the tensor renamed the capsule to "used_..." and
     * calls the deleter when it is done; only an unconsumed capsule still owns it. */
    if (PyCapsule_IsValid(capsule, DLPACK_VERSIONED_TENSOR_UNUSED_NAME)) {
        DLManagedTensorVersioned *m = PyCapsule_GetPointer(capsule, DLPACK_VERSIONED_TENSOR_UNUSED_NAME);
        m->deleter(m);
    } else if (PyCapsule_IsValid(capsule, DLPACK_TENSOR_UNUSED_NAME)) {
        DLManagedTensor *m = PyCapsule_GetPointer(capsule, DLPACK_TENSOR_UNUSED_NAME);
        m->deleter(m);
    }
}

/* `obj` as a (first, second) pair of integers, for argument `name`; 0, or -1
 * with TypeError (the consumers' cue that an argument is not understood) or
 * OverflowError set. */
static int
integer_pair(PyObject *obj, const char *name, long *first, long *second)
{
    if (!PyTuple_Check(obj) || PyTuple_Size(obj) != 2) {
        PyErr_Format(PyExc_TypeError, "__dlpack__: %s must be None or a tuple of two integers, got %R", name, obj);
        return -1;
    }
    *first = PyLong_AsLong(PyTuple_GetItem(obj, 0));
    if (*first == -1 && PyErr_Occurred()) {
        return -1;
    }
    *second = PyLong_AsLong(PyTuple_GetItem(obj, 1));
    if (*second == -1 && PyErr_Occurred()) {
        return -1;
    }
    return 0;
}

PyObject *
core_tensor_dlpack(PyObject *op, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"stream", "max_version", "dl_device", "copy", NULL};
    PyObject *stream = Py_None, *max_version = Py_None, *dl_device = Py_None, *copy_arg = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$OOOO:__dlpack__", keywords,
                                     &stream, &max_version, &dl_device, &copy_arg)) {
        return NULL;
    }
    TensorObject *self = (TensorObject *)op;
    long major = 0, minor = 0, device_type = kDLCPU, device_id = 0;
    if (max_version != Py_None && integer_pair(max_version, "max_version", &major, &minor) < 0) {
        return NULL;
    }
    if (dl_device != Py_None && integer_pair(dl_device, "dl_device", &device_type, &device_id) < 0) {
        return NULL;
    }
    /* The spec: on the CPU, which has no streams, only stream=None is accepted. */
    if (stream != Py_None) {
        PyErr_Format(PyExc_ValueError, "__dlpack__: metaswift tensors are in CPU memory, which has no streams: "
                     "stream must be None, got %R", stream);
        return NULL;
    }
    /* The spec: a device the producer cannot export to is a BufferError. */
    if (device_type != kDLCPU || device_id != 0) {
        PyErr_Format(PyExc_BufferError, "__dlpack__: metaswift tensors are in CPU memory, device (%d, 0); "
                     "cannot export to device (%ld, %ld)", kDLCPU, device_type, device_id);
        return NULL;
    }
    int copy = copy_arg == Py_None ? 0 : PyObject_IsTrue(copy_arg);
    if (copy < 0) {
        return NULL;
    }
    if (self->freed) { /* after the testing aid _free(), `data` may be gone */
        PyErr_SetString(PyExc_BufferError, "__dlpack__: the tensor's engine handle was freed");
        return NULL;
    }

    int versioned = major >= 1;
    int ndim = self->ndim;
    size_t bytes = (size_t)self->size * sizeof(float);
    Export *export = PyMem_Malloc(sizeof(Export) + sizeof(int64_t) * 2 * (size_t)ndim + (copy ? bytes : 0));
    if (export == NULL) {
        return PyErr_NoMemory();
    }
    DLTensor *t = versioned ? &export->managed.versioned.dl_tensor : &export->managed.legacy.dl_tensor;
    t->data = (void *)self->data;
    t->device = (DLDevice){kDLCPU, 0};
    t->ndim = ndim;
    t->dtype = (DLDataType){kDLFloat, 32, 1};
    t->shape = export->dims;
    t->strides = export->dims + ndim;
    t->byte_offset = 0;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = (int64_t)self->shape[i];
        t->strides[i] = (int64_t)(self->shape[ndim + i] / (Py_ssize_t)sizeof(float));
    }
    /* A copy is the consumer's own and writable: it holds no tensor. A view
     * holds the Tensor, and so the engine storage, until the deleter runs. */
    PyObject *owner = NULL;
    if (copy) {
        t->data = export->dims + 2 * ndim;
        if (bytes > 0) {
            memcpy(t->data, self->data, bytes);
        }
    } else {
        owner = Py_NewRef(op);
    }
    const char *name;
    if (versioned) {
        DLManagedTensorVersioned *m = &export->managed.versioned;
        m->version = (DLPackVersion){DLPACK_MAJOR_VERSION, DLPACK_MINOR_VERSION};
        m->manager_ctx = owner;
        m->deleter = delete_versioned;
        m->flags = copy ? DLPACK_FLAG_BITMASK_IS_COPIED : DLPACK_FLAG_BITMASK_READ_ONLY;
        name = DLPACK_VERSIONED_TENSOR_UNUSED_NAME;
    } else {
        DLManagedTensor *m = &export->managed.legacy;
        m->manager_ctx = owner;
        m->deleter = delete_legacy;
        name = DLPACK_TENSOR_UNUSED_NAME;
    }
    PyObject *capsule = PyCapsule_New(export, name, capsule_destructor);
    if (capsule == NULL) {
        Py_XDECREF(owner);
        PyMem_Free(export);
    }
    return capsule;
}

PyObject *
core_tensor_dlpack_device(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    return Py_BuildValue("(ii)", kDLCPU, 0);
}
