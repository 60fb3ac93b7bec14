/*
 * metaswift._core.Learner: one ms_learner handle, made by new_learner(kind,
 * model, ...). It holds a reference to the Model it was made from (so GC
 * slots). Tasks cross as ms_task views of the callers' float32 buffers
 * (tasks.c), borrowed for the duration of the call, without copies; the GIL
 * is released around every call that computes.
 */
#include "core.h"

#include <string.h>

PyObject *
core_new_learner(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"kind", "model", "inner_lr", "inner_steps", "first_order", "loss",
                               "head_parameters", NULL};
    const char *kind, *loss;
    PyObject *model;
    float inner_lr;
    long long inner_steps, head_parameters = 2;
    int first_order = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "sOfLps|L:new_learner", keywords, &kind, &model, &inner_lr,
                                     &inner_steps, &first_order, &loss, &head_parameters)) {
        return NULL;
    }
    core_state *st = PyModule_GetState(module);
    if (core_check_type(st, model, st->ModelType, "model") < 0) {
        return NULL;
    }
    ms_model m = ((ModelObject *)model)->handle;
    ms_learner handle = NULL;
    int status;
    if (strcmp(kind, "maml") == 0) {
        status = ms_maml_new(&handle, m, inner_lr, inner_steps, first_order, loss);
    } else if (strcmp(kind, "metasgd") == 0) {
        status = ms_metasgd_new(&handle, m, inner_lr, inner_steps, first_order, loss);
    } else if (strcmp(kind, "anil") == 0) {
        status = ms_anil_new(&handle, m, inner_lr, inner_steps, first_order, loss, head_parameters);
    } else if (strcmp(kind, "reptile") == 0) {
        status = ms_reptile_new(&handle, m, inner_lr, inner_steps, loss);
    } else {
        return core_raise(st, "kind: unknown learner '%s'; expected 'maml', 'metasgd', 'anil' or 'reptile'", kind);
    }
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    return core_learner_from_handle(st, handle, model);
}

PyObject *
core_learner_from_handle(core_state *st, ms_learner handle, PyObject *model)
{
    allocfunc alloc = (allocfunc)PyType_GetSlot(st->LearnerType, Py_tp_alloc);
    LearnerObject *self = (LearnerObject *)alloc(st->LearnerType, 0);
    if (self == NULL) {
        ms_learner_free(handle);
        return NULL;
    }
    self->handle = handle;
    self->model = Py_NewRef(model);
    self->freed = 0;
    return (PyObject *)self;
}

static int
Learner_traverse(LearnerObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE((PyObject *)self));
    Py_VISIT(self->model);
    return 0;
}

static int
Learner_clear(LearnerObject *self)
{
    Py_CLEAR(self->model);
    return 0;
}

static void
Learner_dealloc(LearnerObject *self)
{
    PyTypeObject *tp = Py_TYPE((PyObject *)self);
    PyObject_GC_UnTrack(self);
    if (!self->freed) {
        (void)ms_learner_free(self->handle);
    }
    Learner_clear(self);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    tp_free(self);
    Py_DECREF(tp);
}

static PyObject *
Learner_meta_parameter_count(LearnerObject *self, PyObject *Py_UNUSED(ignored))
{
    int64_t n = 0;
    int status = ms_learner_meta_parameter_count(&n, self->handle);
    if (status != MS_OK) {
        return core_raise_status(core_state_of((PyObject *)self), status);
    }
    return PyLong_FromLongLong(n);
}

static PyObject *
Learner_meta_parameter_name(LearnerObject *self, PyObject *arg)
{
    long long index = PyLong_AsLongLong(arg);
    if (index == -1 && PyErr_Occurred()) {
        return NULL;
    }
    const char *name = NULL;
    int status = ms_learner_meta_parameter_name(&name, self->handle, index);
    if (status != MS_OK) {
        return core_raise_status(core_state_of((PyObject *)self), status);
    }
    return PyUnicode_FromString(name);
}

static PyObject *
Learner_get_meta_parameter(LearnerObject *self, PyObject *arg)
{
    core_state *st = core_state_of((PyObject *)self);
    long long index = PyLong_AsLongLong(arg);
    if (index == -1 && PyErr_Occurred()) {
        return NULL;
    }
    ms_tensor handle = NULL;
    int status = ms_learner_get_meta_parameter(&handle, self->handle, index);
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    return core_tensor_from_handle(st, handle);
}

static PyObject *
Learner_set_meta_parameter(LearnerObject *self, PyObject *args)
{
    core_state *st = core_state_of((PyObject *)self);
    long long index;
    PyObject *value;
    if (!PyArg_ParseTuple(args, "LO:set_meta_parameter", &index, &value)) {
        return NULL;
    }
    core_buffer buf;
    if (core_get_float32_buffer(st, value, "value", &buf) < 0) {
        return NULL;
    }
    int status = ms_learner_set_meta_parameter(self->handle, index, buf.view.buf, buf.shape, buf.view.ndim);
    core_buffer_release(&buf);
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    Py_RETURN_NONE;
}

static PyObject *
Learner_meta_loss_and_grad(LearnerObject *self, PyObject *tasks)
{
    core_state *st = core_state_of((PyObject *)self);
    int64_t count = 0;
    int status = ms_learner_meta_parameter_count(&count, self->handle);
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    core_task_views tv;
    if (core_task_views_get(st, tasks, &tv) < 0) {
        return NULL;
    }
    ms_tensor *grads = PyMem_Calloc((size_t)(count > 0 ? count : 1), sizeof(ms_tensor));
    if (grads == NULL) {
        core_task_views_release(&tv);
        return PyErr_NoMemory();
    }
    float loss = 0;
    Py_BEGIN_ALLOW_THREADS
    status = ms_learner_meta_loss_and_grad(&loss, grads, count, self->handle, tv.tasks, tv.count);
    Py_END_ALLOW_THREADS
    core_task_views_release(&tv);
    if (status != MS_OK) {
        PyMem_Free(grads);
        return core_raise_status(st, status);
    }
    PyObject *list = PyList_New((Py_ssize_t)count);
    for (int64_t i = 0; i < count; i++) {
        /* On failure, free the handles not yet owned by a Tensor. */
        PyObject *tensor = list ? core_tensor_from_handle(st, grads[i]) : (ms_tensor_free(grads[i]), NULL);
        if (tensor == NULL) {
            Py_CLEAR(list);
            continue;
        }
        PyList_SetItem(list, (Py_ssize_t)i, tensor);
    }
    PyMem_Free(grads);
    if (list == NULL) {
        return NULL;
    }
    PyObject *result = Py_BuildValue("(dN)", (double)loss, list);
    return result;
}

static PyObject *
Learner_adapt(LearnerObject *self, PyObject *args)
{
    core_state *st = core_state_of((PyObject *)self);
    PyObject *x_obj, *y_obj;
    long long steps;
    if (!PyArg_ParseTuple(args, "OOL:adapt", &x_obj, &y_obj, &steps)) {
        return NULL;
    }
    core_buffer x, y;
    if (core_get_float32_buffer(st, x_obj, "x", &x) < 0) {
        return NULL;
    }
    if (core_get_float32_buffer(st, y_obj, "y", &y) < 0) {
        core_buffer_release(&x);
        return NULL;
    }
    ms_view xv, yv;
    core_set_view(&xv, &x);
    core_set_view(&yv, &y);
    ms_model out = NULL;
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = ms_learner_adapt(&out, self->handle, &xv, &yv, steps);
    Py_END_ALLOW_THREADS
    core_buffer_release(&x);
    core_buffer_release(&y);
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    return core_model_from_handle(st, out);
}

/* An output array of exactly `expected` floats, or NULL for None when `optional`. */
static int
output_arg(core_state *st, PyObject *obj, const char *name, Py_ssize_t expected, int optional, core_buffer *buf,
           float **out)
{
    *out = NULL;
    if (optional && obj == Py_None) {
        return 0;
    }
    if (core_get_writable_float32_buffer(st, obj, name, buf) < 0) {
        return -1;
    }
    if (buf->view.len != expected * (Py_ssize_t)sizeof(float)) {
        core_raise(st, "%s: expected %zd floats, got %zd", name, expected, buf->view.len / (Py_ssize_t)sizeof(float));
        core_buffer_release(buf);
        return -1;
    }
    *out = buf->view.buf;
    return 0;
}

static PyObject *
Learner_evaluate(LearnerObject *self, PyObject *args)
{
    core_state *st = core_state_of((PyObject *)self);
    PyObject *taskset, *seed_obj, *objs[4];
    long long task_count, steps;
    if (!PyArg_ParseTuple(args, "OLLOOOOO:evaluate", &taskset, &task_count, &steps, &seed_obj, &objs[0], &objs[1],
                          &objs[2], &objs[3])) {
        return NULL;
    }
    uint64_t seed;
    if (core_check_type(st, taskset, st->TasksetType, "taskset") < 0 ||
        core_uint64_arg(st, seed_obj, "seed", &seed) < 0) {
        return NULL;
    }
    if (task_count <= 0 || steps < 0) {
        return core_raise(st, task_count <= 0 ? "tasks: must be > 0, got %lld" : "inner_steps: must be >= 0, got %lld",
                          task_count <= 0 ? task_count : steps);
    }
    static const char *const names[4] = {"loss_curve", "accuracy_curve", "task_losses", "task_accuracies"};
    const Py_ssize_t sizes[4] = {(Py_ssize_t)steps + 1, (Py_ssize_t)steps + 1, (Py_ssize_t)task_count,
                                 (Py_ssize_t)task_count};
    core_buffer bufs[4];
    float *outs[4];
    int held[4] = {0, 0, 0, 0};
    int failed = 0;
    for (int k = 0; k < 4 && !failed; k++) {
        failed = output_arg(st, objs[k], names[k], sizes[k], k % 2 == 1, &bufs[k], &outs[k]) < 0;
        held[k] = !failed && outs[k] != NULL;
    }
    int status = MS_OK;
    if (!failed) {
        ms_taskset ts = ((TasksetObject *)taskset)->handle;
        Py_BEGIN_ALLOW_THREADS
        status = ms_learner_evaluate(outs[0], outs[1], outs[2], outs[3], self->handle, ts, task_count, steps, seed);
        Py_END_ALLOW_THREADS
    }
    for (int k = 0; k < 4; k++) {
        if (held[k]) {
            core_buffer_release(&bufs[k]);
        }
    }
    if (failed) {
        return NULL;
    }
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    Py_RETURN_NONE;
}

static PyObject *
Learner_free(LearnerObject *self, PyObject *Py_UNUSED(ignored))
{
    int status = ms_learner_free(self->handle);
    self->freed = 1;
    if (status != MS_OK) {
        return core_raise_status(core_state_of((PyObject *)self), status);
    }
    Py_RETURN_NONE;
}

static PyMethodDef Learner_methods[] = {
    {"meta_parameter_count", (PyCFunction)Learner_meta_parameter_count, METH_NOARGS,
     PyDoc_STR("meta_parameter_count() -> int")},
    {"meta_parameter_name", (PyCFunction)Learner_meta_parameter_name, METH_O,
     PyDoc_STR("meta_parameter_name(index) -> str")},
    {"get_meta_parameter", (PyCFunction)Learner_get_meta_parameter, METH_O,
     PyDoc_STR("get_meta_parameter(index) -> Tensor: the current value (shares engine memory).")},
    {"set_meta_parameter", (PyCFunction)Learner_set_meta_parameter, METH_VARARGS,
     PyDoc_STR("set_meta_parameter(index, value): copy a C-contiguous float32 buffer of the meta-parameter's shape.")},
    {"meta_loss_and_grad", (PyCFunction)Learner_meta_loss_and_grad, METH_O,
     PyDoc_STR("meta_loss_and_grad(tasks) -> (loss, [Tensor]): tasks is a sequence of 4-tuples of C-contiguous "
               "float32 buffers, lent to the engine without copies for the call. Releases the GIL.")},
    {"adapt", (PyCFunction)Learner_adapt, METH_VARARGS,
     PyDoc_STR("adapt(x, y, steps) -> Model: the meta-parameters adapted on (x, y). Releases the GIL.")},
    {"evaluate", (PyCFunction)Learner_evaluate, METH_VARARGS,
     PyDoc_STR("evaluate(taskset, task_count, steps, seed, loss_curve, accuracy_curve, task_losses, "
               "task_accuracies): fills the writable float32 arrays (accuracy ones may be None). Releases the GIL.")},
    {"query_logits", (PyCFunction)core_learner_query_logits, METH_VARARGS,
     PyDoc_STR("query_logits(x_support, y_support, x_query, steps) -> Tensor: query logits (m, classes) after "
               "learning from the support set (ms_learner_query_logits). Releases the GIL.")},
    {"predict", (PyCFunction)core_learner_predict, METH_VARARGS,
     PyDoc_STR("predict(x_support, y_support, x_query, steps, out): writes the predicted class of each query to "
               "`out`, a writable int64 buffer of at least m entries (ms_learner_predict). Releases the GIL.")},
    {"evaluate_classification", (PyCFunction)core_learner_evaluate_classification, METH_VARARGS,
     PyDoc_STR("evaluate_classification(taskset, task_count, steps, seed, loss_curve, accuracy_curve, task_losses, "
               "task_accuracies, task_macro_f1s): fills the writable float32 arrays "
               "(ms_learner_evaluate_classification). Releases the GIL.")},
    {"_free", (PyCFunction)Learner_free, METH_NOARGS,
     PyDoc_STR("Testing aid: free the engine handle now; later calls must fail cleanly.")},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Learner_slots[] = {
    {Py_tp_doc, (void *)PyDoc_STR("An engine meta-learner (an ms_learner handle). Create one with new_learner(...).")},
    {Py_tp_dealloc, Learner_dealloc},
    {Py_tp_traverse, Learner_traverse},
    {Py_tp_clear, Learner_clear},
    {Py_tp_methods, Learner_methods},
    {0, NULL},
};

static PyType_Spec Learner_spec = {
    .name = "metaswift._core.Learner",
    .basicsize = sizeof(LearnerObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_HAVE_GC,
    .slots = Learner_slots,
};

int
core_learner_type_init(PyObject *module, core_state *st)
{
    st->LearnerType = (PyTypeObject *)PyType_FromModuleAndSpec(module, &Learner_spec, NULL);
    if (st->LearnerType == NULL) {
        return -1;
    }
    return PyModule_AddType(module, st->LearnerType);
}
