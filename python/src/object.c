/*
 * metaswift._core.Object: one engine object of any kind but "tensor" (a
 * kind the engine offers). It has one method, call,
 * which reaches every method the engine gives that kind.
 */
#include "core.h"

#include <string.h>

PyObject *
core_wrap(core_state *st, ms_object handle)
{
    const char *kind = NULL;
    int status = ms_kind(&kind, handle);
    if (status != MS_OK) {
        (void)ms_free(handle);
        return core_raise_status(st, status);
    }
    if (strcmp(kind, "tensor") == 0) {
        return core_tensor_from_handle(st, handle);
    }
    allocfunc alloc = (allocfunc)PyType_GetSlot(st->ObjectType, Py_tp_alloc);
    ObjectObject *self = (ObjectObject *)alloc(st->ObjectType, 0);
    if (self == NULL) {
        (void)ms_free(handle);
        return NULL;
    }
    self->handle = handle;
    self->freed = 0;
    return (PyObject *)self;
}

static PyObject *
Object_call(ObjectObject *self, PyObject *args, PyObject *kwargs)
{
    const char *method = NULL;
    if (!PyArg_ParseTuple(args, "s:call", &method)) {
        return NULL;
    }
    return core_call(core_state_of((PyObject *)self), self->handle, method, kwargs);
}

static PyObject *
Object_get_kind(ObjectObject *self, void *Py_UNUSED(closure))
{
    const char *kind = NULL;
    int status = ms_kind(&kind, self->handle);
    return status == MS_OK ? PyUnicode_FromString(kind) : core_raise_status(core_state_of((PyObject *)self), status);
}

static PyObject *
Object_free(ObjectObject *self, PyObject *Py_UNUSED(ignored))
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

static void
Object_dealloc(ObjectObject *self)
{
    PyTypeObject *tp = Py_TYPE((PyObject *)self);
    if (!self->freed) {
        (void)ms_free(self->handle); /* a destructor cannot raise; a live handle always frees */
    }
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    tp_free(self);
    Py_DECREF(tp);
}

static PyObject *
Object_repr(ObjectObject *self)
{
    const char *kind = NULL;
    if (self->freed || ms_kind(&kind, self->handle) != MS_OK) {
        return PyUnicode_FromString("<metaswift._core.Object (freed)>");
    }
    return PyUnicode_FromFormat("<metaswift._core.Object %s>", kind);
}

static PyGetSetDef Object_getset[] = {
    {"kind", (getter)Object_get_kind, NULL, PyDoc_STR("The engine family of the object, as ms_kind names it."), NULL},
    {NULL},
};

static PyMethodDef Object_methods[] = {
    {"call", (PyCFunction)(void (*)(void))Object_call, METH_VARARGS | METH_KEYWORDS,
     PyDoc_STR("call(method, **arguments) -> dict: calls an engine method by name (ms_call), the GIL released.")},
    {"_free", (PyCFunction)Object_free, METH_NOARGS,
     PyDoc_STR("Testing aid: free the engine handle now; later calls must fail cleanly.")},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Object_slots[] = {
    {Py_tp_doc, (void *)PyDoc_STR("An engine object (an ms_object handle); made by metaswift._core.new.")},
    {Py_tp_dealloc, Object_dealloc},
    {Py_tp_repr, Object_repr},
    {Py_tp_getset, Object_getset},
    {Py_tp_methods, Object_methods},
    {0, NULL},
};

/* No GC slots: an Object holds no Python references (the engine keeps the
 * objects it was made from alive itself). No tp_new: made only by new(). */
static PyType_Spec Object_spec = {
    .name = "metaswift._core.Object",
    .basicsize = sizeof(ObjectObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Object_slots,
};

int
core_object_type_init(PyObject *module, core_state *st)
{
    st->ObjectType = (PyTypeObject *)PyType_FromModuleAndSpec(module, &Object_spec, NULL);
    if (st->ObjectType == NULL) {
        return -1;
    }
    return PyModule_AddType(module, st->ObjectType);
}
