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

int
core_get_writable_float32_buffer(core_state *st, PyObject *obj, const char *name, core_buffer *out)
{
    return get_float32_buffer(st, obj, name, out, PyBUF_WRITABLE);
}

int
core_uint64_arg(core_state *st, PyObject *obj, const char *name, uint64_t *out)
{
    PyObject *index = PyNumber_Index(obj);
    unsigned long long v = index ? PyLong_AsUnsignedLongLong(index) : (unsigned long long)-1;
    Py_XDECREF(index);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        core_raise(st, "%s: expected an integer in [0, 2**64)", name);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

int
core_check_type(core_state *st, PyObject *obj, PyTypeObject *type, const char *name)
{
    if (PyObject_TypeCheck(obj, type)) {
        return 0;
    }
    PyObject *expected = PyType_GetName(type);
    PyObject *got = PyType_GetName(Py_TYPE(obj));
    core_raise(st, "%s: expected a metaswift._core.%S, got %S", name, expected ? expected : Py_None,
               got ? got : Py_None);
    Py_XDECREF(expected);
    Py_XDECREF(got);
    return -1;
}

void
core_buffer_release(core_buffer *buf)
{
    PyBuffer_Release(&buf->view);
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

static PyMethodDef core_methods[] = {
    {"version", core_version, METH_NOARGS, PyDoc_STR("version() -> str: the engine version (ms_version).")},
    {"blas_info", core_blas_info, METH_NOARGS,
     PyDoc_STR("blas_info() -> str: OpenBLAS's configuration and chosen kernels (ms_blas_info).")},
    {"new_mlp", (PyCFunction)(void (*)(void))core_new_mlp, METH_VARARGS | METH_KEYWORDS,
     PyDoc_STR("new_mlp(sizes, activation, seed) -> Model: a seeded multilayer perceptron (ms_model_new_mlp).")},
    {"new_sinusoid", (PyCFunction)(void (*)(void))core_new_sinusoid, METH_VARARGS | METH_KEYWORDS,
     PyDoc_STR("new_sinusoid(shots, queries, amp_lo, amp_hi, phase_lo, phase_hi, x_lo, x_hi, seed) -> Taskset "
               "(ms_sinusoid_new).")},
    {"new_optimizer", (PyCFunction)(void (*)(void))core_new_optimizer, METH_VARARGS | METH_KEYWORDS,
     PyDoc_STR("new_optimizer(kind, *hyper) -> Optimizer: kind 'sgd' (lr, momentum, nesterov), 'adam' (lr, beta1, "
               "beta2, eps), 'adamw' (lr, beta1, beta2, eps, weight_decay), 'adagrad' (lr, initial_accumulator, "
               "eps) or 'rmsprop' (lr, decay, eps, momentum) (ms_*_new).")},
    {"new_learner", (PyCFunction)(void (*)(void))core_new_learner, METH_VARARGS | METH_KEYWORDS,
     PyDoc_STR("new_learner(kind, model, inner_lr, inner_steps, first_order, loss, head_parameters) -> Learner: "
               "kind 'maml', 'metasgd', 'anil' or 'reptile' (ms_*_new; unused arguments are ignored).")},
    {"new_trainer", (PyCFunction)(void (*)(void))core_new_trainer, METH_VARARGS | METH_KEYWORDS,
     PyDoc_STR("new_trainer(learner, taskset, optimizer, meta_batch_size, seed) -> Trainer (ms_trainer_new).")},
    {"new_taskset_arrays", (PyCFunction)(void (*)(void))core_new_taskset_arrays, METH_VARARGS | METH_KEYWORDS,
     PyDoc_STR("new_taskset_arrays(images, labels, ways, shots, queries, classes, seed) -> Taskset: N-way K-shot "
               "episodes of a labelled dataset; images is a Tensor (shared), labels and classes (or None) int64 "
               "buffers (ms_taskset_new_arrays).")},
    {"new_conv4", (PyCFunction)(void (*)(void))core_new_conv4, METH_VARARGS | METH_KEYWORDS,
     PyDoc_STR("new_conv4(in_channels, hidden, blocks, outputs, image_size, seed) -> Model: the four-block "
               "few-shot encoder, with an N-way head when outputs > 0 (ms_model_new_conv4).")},
    {"new_protonet", (PyCFunction)(void (*)(void))core_new_protonet, METH_VARARGS | METH_KEYWORDS,
     PyDoc_STR("new_protonet(model, distance) -> Learner: Prototypical Networks over an encoder "
               "(ms_protonet_new).")},
    {"summarize", core_summarize, METH_VARARGS,
     PyDoc_STR("summarize(values, ddof) -> (mean, half_width, std): the 95% interval of the mean of a float32 "
               "buffer (ms_summarize).")},
    {"classification_metrics", core_classification_metrics, METH_VARARGS,
     PyDoc_STR("classification_metrics(predicted, labels, classes) -> (accuracy, macro_f1) of int64 buffers "
               "(ms_classification_metrics).")},
    {"class_folds", core_class_folds, METH_VARARGS,
     PyDoc_STR("class_folds(classes, folds, seed, out): out[i] = the fold testing classes[i] (ms_class_folds).")},
    {"class_split", core_class_split, METH_VARARGS,
     PyDoc_STR("class_split(classes, train, validation, test, seed, out): out[i] = 0, 1, 2 or -1 "
               "(ms_class_split).")},
    {"_task_addresses", core_task_addresses, METH_O,
     PyDoc_STR("_task_addresses(tasks) -> list: the data pointers meta_loss_and_grad lends the engine for "
               "these tasks (for zero-copy tests).")},
    {"_handle_count", core_handle_count, METH_O,
     PyDoc_STR("_handle_count(kind) -> int: live engine handles of a kind ('tensor', 'model', 'taskset', "
               "'optimizer', 'learner', 'trainer'; for leak tests).")},
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
    if (core_tensor_type_init(module, st) < 0 || core_model_type_init(module, st) < 0 ||
        core_handles_type_init(module, st) < 0 || core_learner_type_init(module, st) < 0 ||
        core_trainer_type_init(module, st) < 0) {
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
    Py_VISIT(st->ModelType);
    Py_VISIT(st->TasksetType);
    Py_VISIT(st->OptimizerType);
    Py_VISIT(st->LearnerType);
    Py_VISIT(st->TrainerType);
    return 0;
}

static int
core_clear(PyObject *module)
{
    core_state *st = PyModule_GetState(module);
    Py_CLEAR(st->Error);
    Py_CLEAR(st->TensorType);
    Py_CLEAR(st->ModelType);
    Py_CLEAR(st->TasksetType);
    Py_CLEAR(st->OptimizerType);
    Py_CLEAR(st->LearnerType);
    Py_CLEAR(st->TrainerType);
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
