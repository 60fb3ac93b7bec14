/*
 * metaswift._core.Trainer: one ms_trainer handle, made by new_trainer(...).
 * It holds the Learner, Taskset and Optimizer it was made from (so GC slots).
 * run() takes many meta-steps in one native call without the GIL.
 */
#include "core.h"

/* The Python object owning a fresh trainer handle and the objects it was
 * made from (freed on failure). */
static PyObject *
wrap_trainer(core_state *st, ms_trainer handle, PyObject *learner, PyObject *taskset, PyObject *optimizer)
{
    allocfunc alloc = (allocfunc)PyType_GetSlot(st->TrainerType, Py_tp_alloc);
    TrainerObject *self = (TrainerObject *)alloc(st->TrainerType, 0);
    if (self == NULL) {
        ms_trainer_free(handle);
        return NULL;
    }
    self->handle = handle;
    self->learner = Py_NewRef(learner);
    self->taskset = Py_NewRef(taskset);
    self->optimizer = Py_NewRef(optimizer);
    self->freed = 0;
    return (PyObject *)self;
}

PyObject *
core_new_trainer(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"learner", "taskset", "optimizer", "meta_batch_size", "seed", NULL};
    PyObject *learner, *taskset, *optimizer, *seed_obj;
    long long meta_batch_size;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOLO:new_trainer", keywords, &learner, &taskset, &optimizer,
                                     &meta_batch_size, &seed_obj)) {
        return NULL;
    }
    core_state *st = PyModule_GetState(module);
    uint64_t seed;
    if (core_check_type(st, learner, st->LearnerType, "learner") < 0 ||
        core_check_type(st, taskset, st->TasksetType, "taskset") < 0 ||
        core_check_type(st, optimizer, st->OptimizerType, "optimizer") < 0 ||
        core_uint64_arg(st, seed_obj, "seed", &seed) < 0) {
        return NULL;
    }
    ms_trainer handle = NULL;
    int status;
    ms_learner l = ((LearnerObject *)learner)->handle;
    ms_taskset t = ((TasksetObject *)taskset)->handle;
    ms_optimizer o = ((OptimizerObject *)optimizer)->handle;
    Py_BEGIN_ALLOW_THREADS /* checks the taskset by sampling a task */
    status = ms_trainer_new(&handle, l, t, o, meta_batch_size, seed);
    Py_END_ALLOW_THREADS
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    return wrap_trainer(st, handle, learner, taskset, optimizer);
}

static int
Trainer_traverse(TrainerObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE((PyObject *)self));
    Py_VISIT(self->learner);
    Py_VISIT(self->taskset);
    Py_VISIT(self->optimizer);
    return 0;
}

static int
Trainer_clear(TrainerObject *self)
{
    Py_CLEAR(self->learner);
    Py_CLEAR(self->taskset);
    Py_CLEAR(self->optimizer);
    return 0;
}

static void
Trainer_dealloc(TrainerObject *self)
{
    PyTypeObject *tp = Py_TYPE((PyObject *)self);
    PyObject_GC_UnTrack(self);
    if (!self->freed) {
        (void)ms_trainer_free(self->handle);
    }
    Trainer_clear(self);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    tp_free(self);
    Py_DECREF(tp);
}

static PyObject *
Trainer_run(TrainerObject *self, PyObject *args)
{
    core_state *st = core_state_of((PyObject *)self);
    PyObject *out_obj;
    long long steps;
    if (!PyArg_ParseTuple(args, "OL:run", &out_obj, &steps)) {
        return NULL;
    }
    core_buffer out;
    if (core_get_writable_float32_buffer(st, out_obj, "out", &out) < 0) {
        return NULL;
    }
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = ms_trainer_run(out.view.buf, out.view.len / (Py_ssize_t)sizeof(float), self->handle, steps);
    Py_END_ALLOW_THREADS
    core_buffer_release(&out);
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    Py_RETURN_NONE;
}

static PyObject *
Trainer_steps(TrainerObject *self, PyObject *Py_UNUSED(ignored))
{
    int64_t n = 0;
    int status = ms_trainer_steps(&n, self->handle);
    if (status != MS_OK) {
        return core_raise_status(core_state_of((PyObject *)self), status);
    }
    return PyLong_FromLongLong(n);
}

static PyObject *
Trainer_free(TrainerObject *self, PyObject *Py_UNUSED(ignored))
{
    int status = ms_trainer_free(self->handle);
    self->freed = 1;
    if (status != MS_OK) {
        return core_raise_status(core_state_of((PyObject *)self), status);
    }
    Py_RETURN_NONE;
}

static PyObject *
Trainer_continue(TrainerObject *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"taskset", "meta_batch_size", "seed", NULL};
    core_state *st = core_state_of((PyObject *)self);
    PyObject *taskset, *seed_obj;
    long long meta_batch_size;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OLO:continue_", keywords, &taskset, &meta_batch_size,
                                     &seed_obj)) {
        return NULL;
    }
    uint64_t seed;
    if (core_check_type(st, taskset, st->TasksetType, "taskset") < 0 ||
        core_uint64_arg(st, seed_obj, "seed", &seed) < 0) {
        return NULL;
    }
    ms_trainer handle = NULL;
    int status;
    ms_taskset t = ((TasksetObject *)taskset)->handle;
    Py_BEGIN_ALLOW_THREADS /* checks the taskset by sampling a task */
    status = ms_trainer_continue(&handle, self->handle, t, meta_batch_size, seed);
    Py_END_ALLOW_THREADS
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    return wrap_trainer(st, handle, self->learner, taskset, self->optimizer);
}

static PyMethodDef Trainer_methods[] = {
    {"continue_", (PyCFunction)(void (*)(void))Trainer_continue, METH_VARARGS | METH_KEYWORDS,
     PyDoc_STR("continue_(taskset, meta_batch_size, seed) -> Trainer: a new trainer for the same learner that "
               "carries on with this one's optimizer state (ms_trainer_continue).")},
    {"run", (PyCFunction)Trainer_run, METH_VARARGS,
     PyDoc_STR("run(out, steps): `steps` meta-steps in one native call without the GIL; meta-step i's loss goes "
               "to out[i] (a writable float32 buffer of at least `steps` floats). The trained meta-parameters are "
               "written back to the model and the learner.")},
    {"steps", (PyCFunction)Trainer_steps, METH_NOARGS,
     PyDoc_STR("steps() -> int: meta-steps taken so far.")},
    {"_free", (PyCFunction)Trainer_free, METH_NOARGS,
     PyDoc_STR("Testing aid: free the engine handle now; later calls must fail cleanly.")},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Trainer_slots[] = {
    {Py_tp_doc, (void *)PyDoc_STR("An engine outer loop (an ms_trainer handle). Create one with new_trainer(...).")},
    {Py_tp_dealloc, Trainer_dealloc},
    {Py_tp_traverse, Trainer_traverse},
    {Py_tp_clear, Trainer_clear},
    {Py_tp_methods, Trainer_methods},
    {0, NULL},
};

static PyType_Spec Trainer_spec = {
    .name = "metaswift._core.Trainer",
    .basicsize = sizeof(TrainerObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_HAVE_GC,
    .slots = Trainer_slots,
};

int
core_trainer_type_init(PyObject *module, core_state *st)
{
    st->TrainerType = (PyTypeObject *)PyType_FromModuleAndSpec(module, &Trainer_spec, NULL);
    if (st->TrainerType == NULL) {
        return -1;
    }
    return PyModule_AddType(module, st->TrainerType);
}
