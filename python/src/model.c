/*
 * metaswift._core.Model: one ms_model handle (an architecture and its current
 * parameters). Created by module functions, one per architecture
 * (new_mlp, ...), never by calling the type.
 */
#include "core.h"

/* A parameter index argument; range checks are the engine's. */
static int
index_arg(PyObject *arg, int64_t *out)
{
    long long v = PyLong_AsLongLong(arg);
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

PyObject *
core_model_from_handle(core_state *st, ms_model handle)
{
    allocfunc alloc = (allocfunc)PyType_GetSlot(st->ModelType, Py_tp_alloc);
    ModelObject *self = (ModelObject *)alloc(st->ModelType, 0);
    if (self == NULL) {
        ms_model_free(handle);
        return NULL;
    }
    self->handle = handle;
    self->freed = 0;
    return (PyObject *)self;
}

/* Reads a sequence of ints (layer sizes) into a new int64 array. */
static int64_t *
int64_sequence(core_state *st, PyObject *seq, const char *name, Py_ssize_t *count)
{
    PyObject *items = PySequence_Tuple(seq);
    if (items == NULL) {
        PyErr_Clear();
        core_raise(st, "%s: expected a sequence of integers", name);
        return NULL;
    }
    Py_ssize_t n = PyTuple_Size(items);
    int64_t *values = PyMem_Malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    if (values == NULL) {
        Py_DECREF(items);
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GetItem(items, i);
        PyObject *index = item ? PyNumber_Index(item) : NULL;
        long long v = index ? PyLong_AsLongLong(index) : -1;
        Py_XDECREF(index);
        if (index == NULL || (v == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            core_raise(st, "%s[%zd]: expected an integer in the int64 range", name, i);
            PyMem_Free(values);
            Py_DECREF(items);
            return NULL;
        }
        values[i] = (int64_t)v;
    }
    Py_DECREF(items);
    *count = n;
    return values;
}

PyObject *
core_new_mlp(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"sizes", "activation", "seed", NULL};
    PyObject *sizes_obj, *seed_obj;
    const char *activation;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OsO:new_mlp", keywords, &sizes_obj, &activation,
                                     &seed_obj)) {
        return NULL;
    }
    core_state *st = PyModule_GetState(module);
    uint64_t seed;
    if (core_uint64_arg(st, seed_obj, "seed", &seed) < 0) {
        return NULL;
    }
    Py_ssize_t count = 0;
    int64_t *sizes = int64_sequence(st, sizes_obj, "sizes", &count);
    if (sizes == NULL) {
        return NULL;
    }
    ms_model handle = NULL;
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = ms_model_new_mlp(&handle, sizes, count, activation, seed);
    Py_END_ALLOW_THREADS
    PyMem_Free(sizes);
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    return core_model_from_handle(st, handle);
}

static void
Model_dealloc(ModelObject *self)
{
    PyTypeObject *tp = Py_TYPE((PyObject *)self);
    if (!self->freed) {
        (void)ms_model_free(self->handle); /* a destructor cannot raise */
    }
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    tp_free(self);
    Py_DECREF(tp);
}

static PyObject *
Model_parameter_count(ModelObject *self, PyObject *Py_UNUSED(ignored))
{
    int64_t n = 0;
    int status = ms_model_parameter_count(&n, self->handle);
    if (status != MS_OK) {
        return core_raise_status(core_state_of((PyObject *)self), status);
    }
    return PyLong_FromLongLong(n);
}

static PyObject *
Model_parameter_name(ModelObject *self, PyObject *arg)
{
    core_state *st = core_state_of((PyObject *)self);
    int64_t index;
    if (index_arg(arg, &index) < 0) {
        return NULL;
    }
    const char *name = NULL;
    int status = ms_model_parameter_name(&name, self->handle, index);
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    return PyUnicode_FromString(name);
}

static PyObject *
Model_parameter_shape(ModelObject *self, PyObject *arg)
{
    core_state *st = core_state_of((PyObject *)self);
    int64_t index;
    if (index_arg(arg, &index) < 0) {
        return NULL;
    }
    int64_t rank = 0;
    int64_t dims[MS_MAX_RANK];
    int status = ms_model_parameter_rank(&rank, self->handle, index);
    if (status == MS_OK) {
        status = ms_model_parameter_shape(dims, MS_MAX_RANK, self->handle, index);
    }
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    PyObject *shape = PyTuple_New((Py_ssize_t)rank);
    for (int64_t i = 0; shape != NULL && i < rank; i++) {
        PyObject *d = PyLong_FromLongLong(dims[i]);
        if (d == NULL) {
            Py_CLEAR(shape);
            break;
        }
        PyTuple_SetItem(shape, (Py_ssize_t)i, d);
    }
    return shape;
}

static PyObject *
Model_get_parameter(ModelObject *self, PyObject *arg)
{
    core_state *st = core_state_of((PyObject *)self);
    int64_t index;
    if (index_arg(arg, &index) < 0) {
        return NULL;
    }
    ms_tensor handle = NULL;
    int status = ms_model_get_parameter(&handle, self->handle, index);
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    return core_tensor_from_handle(st, handle);
}

static PyObject *
Model_set_parameter(ModelObject *self, PyObject *args)
{
    core_state *st = core_state_of((PyObject *)self);
    long long index;
    PyObject *value;
    if (!PyArg_ParseTuple(args, "LO:set_parameter", &index, &value)) {
        return NULL;
    }
    core_buffer buf;
    if (core_get_float32_buffer(st, value, "value", &buf) < 0) {
        return NULL;
    }
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = ms_model_set_parameter(self->handle, index, buf.view.buf, buf.shape, buf.view.ndim);
    Py_END_ALLOW_THREADS
    core_buffer_release(&buf);
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    Py_RETURN_NONE;
}

static PyObject *
Model_forward(ModelObject *self, PyObject *x)
{
    core_state *st = core_state_of((PyObject *)self);
    if (!PyObject_TypeCheck(x, st->TensorType)) {
        return core_raise(st, "x: expected a metaswift._core.Tensor");
    }
    ms_tensor out = NULL;
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = ms_model_forward(&out, self->handle, ((TensorObject *)x)->handle);
    Py_END_ALLOW_THREADS
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    return core_tensor_from_handle(st, out);
}

static PyObject *
Model_free(ModelObject *self, PyObject *Py_UNUSED(ignored))
{
    /* Testing aid, as Tensor._free: the stale handle stays for later calls. */
    int status = ms_model_free(self->handle);
    self->freed = 1;
    if (status != MS_OK) {
        return core_raise_status(core_state_of((PyObject *)self), status);
    }
    Py_RETURN_NONE;
}

static PyMethodDef Model_methods[] = {
    {"parameter_count", (PyCFunction)Model_parameter_count, METH_NOARGS,
     PyDoc_STR("parameter_count() -> int: the number of parameter tensors.")},
    {"parameter_name", (PyCFunction)Model_parameter_name, METH_O,
     PyDoc_STR("parameter_name(index) -> str")},
    {"parameter_shape", (PyCFunction)Model_parameter_shape, METH_O,
     PyDoc_STR("parameter_shape(index) -> tuple")},
    {"get_parameter", (PyCFunction)Model_get_parameter, METH_O,
     PyDoc_STR("get_parameter(index) -> Tensor: the current value (shares engine memory).")},
    {"set_parameter", (PyCFunction)Model_set_parameter, METH_VARARGS,
     PyDoc_STR("set_parameter(index, value): copy a C-contiguous float32 buffer of the parameter's shape.")},
    {"forward", (PyCFunction)Model_forward, METH_O,
     PyDoc_STR("forward(x: Tensor) -> Tensor: the model applied to x with its current parameters. "
               "Releases the GIL.")},
    {"_free", (PyCFunction)Model_free, METH_NOARGS,
     PyDoc_STR("Testing aid: free the engine handle now; later calls must fail cleanly.")},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Model_slots[] = {
    {Py_tp_doc, (void *)PyDoc_STR("An engine model (an ms_model handle). Create one with new_mlp(...).")},
    {Py_tp_dealloc, Model_dealloc},
    {Py_tp_methods, Model_methods},
    {0, NULL},
};

/* No GC slots: a Model holds no Python references. */
static PyType_Spec Model_spec = {
    .name = "metaswift._core.Model",
    .basicsize = sizeof(ModelObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Model_slots,
};

int
core_model_type_init(PyObject *module, core_state *st)
{
    st->ModelType = (PyTypeObject *)PyType_FromModuleAndSpec(module, &Model_spec, NULL);
    if (st->ModelType == NULL) {
        return -1;
    }
    return PyModule_AddType(module, st->ModelType);
}
