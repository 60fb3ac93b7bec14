/* metaswift._core: module state, errors, buffers. See core.h. */
#include "core.h"

#include <stdarg.h>
#include <string.h>

core_state *
core_state_of(PyObject *self)
{
    /* Our types are final (no Py_TPFLAGS_BASETYPE), so the type of `self` is
     * the one created from our spec and carries the module. */
    return (core_state *)PyType_GetModuleState(Py_TYPE(self));
}

PyObject *
core_raise_status(core_state *st, int status)
{
    PyObject *exc = PyObject_CallFunction(st->Error, "s", ms_last_error());
    if (exc == NULL) {
        return NULL;
    }
    PyObject *code = PyLong_FromLong(status);
    if (code == NULL || PyObject_SetAttrString(exc, "status", code) < 0) {
        Py_XDECREF(code);
        Py_DECREF(exc);
        return NULL;
    }
    Py_DECREF(code);
    PyErr_SetObject(st->Error, exc);
    Py_DECREF(exc);
    return NULL;
}

PyObject *
core_raise(core_state *st, const char *format, ...)
{
    va_list vargs;
    va_start(vargs, format);
    PyObject *msg = PyUnicode_FromFormatV(format, vargs);
    va_end(vargs);
    if (msg != NULL) {
        PyErr_SetObject(st->Error, msg);
        Py_DECREF(msg);
    }
    return NULL;
}

static int
is_native_float32(const char *format)
{
    if (format == NULL) {
        return 0;
    }
    /* '@' and '=' are native; '<' is native on the little-endian hosts we build for. */
    if (format[0] == '@' || format[0] == '=' || format[0] == '<') {
        format++;
    }
    return strcmp(format, "f") == 0;
}

static int
get_float32_buffer(core_state *st, PyObject *obj, const char *name, core_buffer *out, int flags)
{
    if (PyObject_GetBuffer(obj, &out->view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | flags) < 0) {
        /* Keep the exporter's reason (e.g. "ndarray is not C-contiguous"). */
        PyObject *type, *value, *traceback;
        PyErr_Fetch(&type, &value, &traceback);
        PyObject *tname = PyType_GetName(Py_TYPE(obj));
        core_raise(st, "%s: expected a C-contiguous%s float32 buffer, got %S (%S)",
                   name, (flags & PyBUF_WRITABLE) ? " writable" : "", tname ? tname : Py_None,
                   value ? value : Py_None);
        Py_XDECREF(tname);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(traceback);
        return -1;
    }
    if (out->view.itemsize != 4 || !is_native_float32(out->view.format)) {
        core_raise(st, "%s: expected float32 elements, got buffer format '%s'",
                   name, out->view.format ? out->view.format : "B");
        PyBuffer_Release(&out->view);
        return -1;
    }
    if (out->view.ndim > MS_MAX_RANK) {
        core_raise(st, "%s: at most %d dimensions, got %d", name, MS_MAX_RANK, out->view.ndim);
        PyBuffer_Release(&out->view);
        return -1;
    }
    for (int i = 0; i < out->view.ndim; i++) {
        out->shape[i] = (int64_t)out->view.shape[i];
    }
    return 0;
}

int
core_get_float32_buffer(core_state *st, PyObject *obj, const char *name, core_buffer *out)
{
    return get_float32_buffer(st, obj, name, out, 0);
}

static PyObject *
core_version(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    return PyUnicode_FromString(ms_version());
}

static PyObject *
core_blas_info(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    return PyUnicode_FromString(ms_blas_info());
}

static PyObject *
core_handle_count(PyObject *module, PyObject *arg)
{
    core_state *st = PyModule_GetState(module);
    const char *kind = PyUnicode_AsUTF8AndSize(arg, NULL);
    if (kind == NULL) {
        return NULL;
    }
    int64_t n = 0;
    int status = ms_handle_count(&n, kind);
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    return PyLong_FromLongLong(n);
}

static PyObject *
core_new(PyObject *module, PyObject *args, PyObject *kwargs)
{
    const char *kind = NULL;
    if (!PyArg_ParseTuple(args, "s:new", &kind)) {
        return NULL;
    }
    return core_new_object(PyModule_GetState(module), kind, kwargs);
}

static PyObject *
core_call_function(PyObject *module, PyObject *args, PyObject *kwargs)
{
    const char *name = NULL;
    if (!PyArg_ParseTuple(args, "s:call", &name)) {
        return NULL;
    }
    return core_call(PyModule_GetState(module), NULL, name, kwargs);
}

static PyObject *
core_lent_function(PyObject *module, PyObject *args, PyObject *kwargs)
{
    if (PyTuple_Size(args) != 0) {
        PyErr_SetString(PyExc_TypeError, "_lent_addresses takes keyword arguments only");
        return NULL;
    }
    return core_lent_addresses(PyModule_GetState(module), kwargs);
}

static PyMethodDef core_methods[] = {
    {"version", core_version, METH_NOARGS, PyDoc_STR("version() -> str: the engine version (ms_version).")},
    {"blas_info", core_blas_info, METH_NOARGS,
     PyDoc_STR("blas_info() -> str: OpenBLAS's configuration and the kernels it chose (ms_blas_info).")},
    {"new", (PyCFunction)(void (*)(void))core_new, METH_VARARGS | METH_KEYWORDS,
     PyDoc_STR("new(kind, **arguments) -> Object or Tensor: a new engine object of a kind "
               "given by name (ms_new), the GIL released.")},
    {"call", (PyCFunction)(void (*)(void))core_call_function, METH_VARARGS | METH_KEYWORDS,
     PyDoc_STR("call(function, **arguments) -> dict: an engine function such as 'summarize' (ms_call "
               "without an object), the GIL released.")},
    {"_lent_addresses", (PyCFunction)(void (*)(void))core_lent_function, METH_VARARGS | METH_KEYWORDS,
     PyDoc_STR("_lent_addresses(**arguments) -> list: the data addresses these arguments would lend the engine, "
               "in order (for zero-copy tests).")},
    {"_handle_count", core_handle_count, METH_O,
     PyDoc_STR("_handle_count(kind) -> int: live engine handles of a kind ('tensor', 'model', 'args', ...; "
               "for leak tests).")},
    {NULL, NULL, 0, NULL},
};

static int
core_exec(PyObject *module)
{
    core_state *st = PyModule_GetState(module);
    st->Error = PyErr_NewExceptionWithDoc(
        "metaswift.Error",
        "An engine call refused its arguments or failed. The message names the argument at fault; "
        "`status` is the C ABI status code (MS_ERR_*).",
        PyExc_ValueError, NULL);
    if (st->Error == NULL || PyModule_AddObjectRef(module, "Error", st->Error) < 0) {
        return -1;
    }
    if (core_tensor_type_init(module, st) < 0 || core_object_type_init(module, st) < 0) {
        return -1;
    }
    if (PyModule_AddIntConstant(module, "MAX_RANK", MS_MAX_RANK) < 0 ||
        PyModule_AddIntConstant(module, "MAX_INNER_STEPS", MS_MAX_INNER_STEPS) < 0 ||
        PyModule_AddIntConstant(module, "MAX_EPISODES", MS_MAX_EPISODES) < 0) {
        return -1;
    }
    return 0;
}

static int
core_traverse(PyObject *module, visitproc visit, void *arg)
{
    core_state *st = PyModule_GetState(module);
    Py_VISIT(st->Error);
    Py_VISIT(st->TensorType);
    Py_VISIT(st->ObjectType);
    return 0;
}

static int
core_clear(PyObject *module)
{
    core_state *st = PyModule_GetState(module);
    Py_CLEAR(st->Error);
    Py_CLEAR(st->TensorType);
    Py_CLEAR(st->ObjectType);
    return 0;
}

static void
core_free(void *module)
{
    core_clear((PyObject *)module);
}

static PyModuleDef_Slot core_slots[] = {
    {Py_mod_exec, core_exec},
    {0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "metaswift._core",
    .m_doc = "The native core of metaswift: engine handles behind the C ABI of libmetaswift.",
    .m_size = sizeof(core_state),
    .m_methods = core_methods,
    .m_slots = core_slots,
    .m_traverse = core_traverse,
    .m_clear = core_clear,
    .m_free = core_free,
};

PyMODINIT_FUNC
PyInit__core(void)
{
    return PyModuleDef_Init(&core_module);
}
