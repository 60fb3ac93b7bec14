/*
 * metaswift._core.Taskset and metaswift._core.Optimizer: one ms_taskset or
 * ms_optimizer handle each, made by module functions (new_sinusoid,
 * new_optimizer), never by calling the type. Neither holds Python references.
 */
#include "core.h"

#include <string.h>

/* ---- Taskset ----------------------------------------------------------- */

PyObject *
core_new_sinusoid(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"shots", "queries", "amp_lo", "amp_hi", "phase_lo", "phase_hi",
                               "x_lo", "x_hi", "seed", NULL};
    long long shots, queries;
    float amp_lo, amp_hi, phase_lo, phase_hi, x_lo, x_hi;
    PyObject *seed_obj;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "LLffffffO:new_sinusoid", keywords, &shots, &queries,
                                     &amp_lo, &amp_hi, &phase_lo, &phase_hi, &x_lo, &x_hi, &seed_obj)) {
        return NULL;
    }
    core_state *st = PyModule_GetState(module);
    uint64_t seed;
    if (core_uint64_arg(st, seed_obj, "seed", &seed) < 0) {
        return NULL;
    }
    ms_taskset handle = NULL;
    int status = ms_sinusoid_new(&handle, shots, queries, amp_lo, amp_hi, phase_lo, phase_hi, x_lo, x_hi, seed);
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    return core_wrap_taskset(st, handle);
}

PyObject *core_wrap_taskset(core_state *st, ms_taskset handle) {
    allocfunc alloc = (allocfunc)PyType_GetSlot(st->TasksetType, Py_tp_alloc);
    TasksetObject *self = (TasksetObject *)alloc(st->TasksetType, 0);
    if (self == NULL) {
        ms_taskset_free(handle);
        return NULL;
    }
    self->handle = handle;
    self->freed = 0;
    return (PyObject *)self;
}

static void
Taskset_dealloc(TasksetObject *self)
{
    PyTypeObject *tp = Py_TYPE((PyObject *)self);
    if (!self->freed) {
        (void)ms_taskset_free(self->handle);
    }
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    tp_free(self);
    Py_DECREF(tp);
}

static PyObject *
Taskset_sample(TasksetObject *self, PyObject *Py_UNUSED(ignored))
{
    core_state *st = core_state_of((PyObject *)self);
    ms_tensor t[4] = {NULL, NULL, NULL, NULL};
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = ms_taskset_sample(&t[0], &t[1], &t[2], &t[3], self->handle);
    Py_END_ALLOW_THREADS
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    PyObject *result = PyTuple_New(4);
    for (int i = 0; i < 4; i++) {
        /* core_tensor_from_handle frees the handle on failure; free the rest. */
        PyObject *tensor = result ? core_tensor_from_handle(st, t[i]) : (ms_tensor_free(t[i]), NULL);
        if (tensor == NULL) {
            Py_CLEAR(result);
            continue;
        }
        PyTuple_SetItem(result, i, tensor);
    }
    return result;
}

static PyObject *
Taskset_free(TasksetObject *self, PyObject *Py_UNUSED(ignored))
{
    int status = ms_taskset_free(self->handle);
    self->freed = 1;
    if (status != MS_OK) {
        return core_raise_status(core_state_of((PyObject *)self), status);
    }
    Py_RETURN_NONE;
}

static PyMethodDef Taskset_methods[] = {
    {"sample", (PyCFunction)Taskset_sample, METH_NOARGS,
     PyDoc_STR("sample() -> (x_support, y_support, x_query, y_query): four Tensors, the next task of the "
               "taskset's own stream (ms_taskset_sample). Releases the GIL.")},
    {"_free", (PyCFunction)Taskset_free, METH_NOARGS,
     PyDoc_STR("Testing aid: free the engine handle now; later calls must fail cleanly.")},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Taskset_slots[] = {
    {Py_tp_doc, (void *)PyDoc_STR("An engine taskset (an ms_taskset handle). Create one with new_sinusoid(...).")},
    {Py_tp_dealloc, Taskset_dealloc},
    {Py_tp_methods, Taskset_methods},
    {0, NULL},
};

static PyType_Spec Taskset_spec = {
    .name = "metaswift._core.Taskset",
    .basicsize = sizeof(TasksetObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Taskset_slots,
};

/* ---- Optimizer --------------------------------------------------------- */

/* The Python object owning a fresh optimizer handle (freed on failure). */
static PyObject *
wrap_optimizer(core_state *st, ms_optimizer handle)
{
    allocfunc alloc = (allocfunc)PyType_GetSlot(st->OptimizerType, Py_tp_alloc);
    OptimizerObject *self = (OptimizerObject *)alloc(st->OptimizerType, 0);
    if (self == NULL) {
        ms_optimizer_free(handle);
        return NULL;
    }
    self->handle = handle;
    self->freed = 0;
    return (PyObject *)self;
}

PyObject *
core_new_optimizer(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"kind", "lr", "a", "b", "c", "d", NULL};
    const char *kind;
    float lr, a = 0, b = 0, c = 0, d = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "sf|ffff:new_optimizer", keywords, &kind, &lr, &a, &b, &c, &d)) {
        return NULL;
    }
    core_state *st = PyModule_GetState(module);
    ms_optimizer handle = NULL;
    int status;
    if (strcmp(kind, "sgd") == 0) {
        status = ms_sgd_new(&handle, lr, a, b != 0);
    } else if (strcmp(kind, "adam") == 0) {
        status = ms_adam_new(&handle, lr, a, b, c);
    } else if (strcmp(kind, "adamw") == 0) {
        status = ms_adamw_new(&handle, lr, a, b, c, d);
    } else if (strcmp(kind, "adagrad") == 0) {
        status = ms_adagrad_new(&handle, lr, a, b);
    } else if (strcmp(kind, "rmsprop") == 0) {
        status = ms_rmsprop_new(&handle, lr, a, b, c);
    } else {
        return core_raise(st, "kind: unknown optimizer '%s'; expected 'sgd', 'adam', 'adamw', 'adagrad' or 'rmsprop'",
                          kind);
    }
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    return wrap_optimizer(st, handle);
}

static void
Optimizer_dealloc(OptimizerObject *self)
{
    PyTypeObject *tp = Py_TYPE((PyObject *)self);
    if (!self->freed) {
        (void)ms_optimizer_free(self->handle);
    }
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    tp_free(self);
    Py_DECREF(tp);
}

static PyObject *
Optimizer_free(OptimizerObject *self, PyObject *Py_UNUSED(ignored))
{
    int status = ms_optimizer_free(self->handle);
    self->freed = 1;
    if (status != MS_OK) {
        return core_raise_status(core_state_of((PyObject *)self), status);
    }
    Py_RETURN_NONE;
}

static PyObject *
Optimizer_cosine(OptimizerObject *self, PyObject *args)
{
    core_state *st = core_state_of((PyObject *)self);
    float lr, final;
    long long steps, warmup;
    if (!PyArg_ParseTuple(args, "fLfL:cosine", &lr, &steps, &final, &warmup)) {
        return NULL;
    }
    ms_optimizer handle = NULL;
    int status = ms_optimizer_cosine(&handle, self->handle, lr, steps, final, warmup);
    return status == MS_OK ? wrap_optimizer(st, handle) : core_raise_status(st, status);
}

static PyObject *
Optimizer_exponential(OptimizerObject *self, PyObject *args)
{
    core_state *st = core_state_of((PyObject *)self);
    float lr, rate;
    long long every;
    int staircase;
    if (!PyArg_ParseTuple(args, "ffLp:exponential", &lr, &rate, &every, &staircase)) {
        return NULL;
    }
    ms_optimizer handle = NULL;
    int status = ms_optimizer_exponential(&handle, self->handle, lr, rate, every, staircase);
    return status == MS_OK ? wrap_optimizer(st, handle) : core_raise_status(st, status);
}

static PyObject *
Optimizer_piecewise(OptimizerObject *self, PyObject *args)
{
    core_state *st = core_state_of((PyObject *)self);
    float lr;
    PyObject *boundaries_obj, *values_obj;
    if (!PyArg_ParseTuple(args, "fOO:piecewise", &lr, &boundaries_obj, &values_obj)) {
        return NULL;
    }
    core_buffer boundaries, values;
    if (core_get_int64_buffer(st, boundaries_obj, "boundaries", &boundaries, 0) < 0) {
        return NULL;
    }
    if (core_get_float32_buffer(st, values_obj, "values", &values) < 0) {
        core_buffer_release(&boundaries);
        return NULL;
    }
    Py_ssize_t n = boundaries.view.len / (Py_ssize_t)sizeof(int64_t);
    PyObject *result;
    if (values.view.len / (Py_ssize_t)sizeof(float) != n) {
        result = core_raise(st, "values: %zd values for %zd boundaries; give one value per boundary",
                            values.view.len / (Py_ssize_t)sizeof(float), n);
    } else {
        ms_optimizer handle = NULL;
        int status = ms_optimizer_piecewise(&handle, self->handle, lr, boundaries.view.buf, values.view.buf, n);
        result = status == MS_OK ? wrap_optimizer(st, handle) : core_raise_status(st, status);
    }
    core_buffer_release(&boundaries);
    core_buffer_release(&values);
    return result;
}

static PyObject *
Optimizer_learning_rates(OptimizerObject *self, PyObject *args)
{
    core_state *st = core_state_of((PyObject *)self);
    PyObject *out_obj;
    if (!PyArg_ParseTuple(args, "O:learning_rates", &out_obj)) {
        return NULL;
    }
    core_buffer out;
    if (core_get_writable_float32_buffer(st, out_obj, "out", &out) < 0) {
        return NULL;
    }
    int status = ms_optimizer_learning_rates(out.view.buf, out.view.len / (Py_ssize_t)sizeof(float), self->handle);
    core_buffer_release(&out);
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    Py_RETURN_NONE;
}

static PyMethodDef Optimizer_methods[] = {
    {"cosine", (PyCFunction)Optimizer_cosine, METH_VARARGS,
     PyDoc_STR("cosine(lr, steps, final, warmup) -> Optimizer: this rule with a cosine schedule "
               "(ms_optimizer_cosine).")},
    {"exponential", (PyCFunction)Optimizer_exponential, METH_VARARGS,
     PyDoc_STR("exponential(lr, rate, every, staircase) -> Optimizer (ms_optimizer_exponential).")},
    {"piecewise", (PyCFunction)Optimizer_piecewise, METH_VARARGS,
     PyDoc_STR("piecewise(lr, boundaries, values) -> Optimizer: boundaries an int64 buffer, values a float32 "
               "buffer of the same length (ms_optimizer_piecewise).")},
    {"learning_rates", (PyCFunction)Optimizer_learning_rates, METH_VARARGS,
     PyDoc_STR("learning_rates(out): out[t] = the learning rate of update t (a writable float32 buffer).")},
    {"_free", (PyCFunction)Optimizer_free, METH_NOARGS,
     PyDoc_STR("Testing aid: free the engine handle now; later calls must fail cleanly.")},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Optimizer_slots[] = {
    {Py_tp_doc, (void *)PyDoc_STR("An engine optimizer rule (an ms_optimizer handle). Create one with "
                                  "new_optimizer(...).")},
    {Py_tp_dealloc, Optimizer_dealloc},
    {Py_tp_methods, Optimizer_methods},
    {0, NULL},
};

static PyType_Spec Optimizer_spec = {
    .name = "metaswift._core.Optimizer",
    .basicsize = sizeof(OptimizerObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Optimizer_slots,
};

int
core_handles_type_init(PyObject *module, core_state *st)
{
    st->TasksetType = (PyTypeObject *)PyType_FromModuleAndSpec(module, &Taskset_spec, NULL);
    if (st->TasksetType == NULL || PyModule_AddType(module, st->TasksetType) < 0) {
        return -1;
    }
    st->OptimizerType = (PyTypeObject *)PyType_FromModuleAndSpec(module, &Optimizer_spec, NULL);
    if (st->OptimizerType == NULL) {
        return -1;
    }
    return PyModule_AddType(module, st->OptimizerType);
}
