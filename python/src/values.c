/*
 * Keyword arguments to an ms_args bag and a result bag to a dict: the whole
 * of the marshalling between Python and the engine.
 *
 *   None -> MS_NONE            bool, int -> MS_INT (MS_UINT past 2**63 - 1)
 *   float -> MS_FLOAT          str -> MS_STRING
 *   Tensor, Object -> MS_OBJECT
 *   a float32 buffer -> MS_VIEW (lent, no copy)    an int64 buffer -> MS_INTS
 *   a list or tuple of Tensors/Objects -> MS_OBJECTS; of float32 buffers -> MS_VIEWS
 *
 * Results: MS_INT -> int, MS_FLOAT -> float, MS_STRING -> str, MS_OBJECT ->
 * Tensor or Object, MS_OBJECTS -> list, MS_INTS -> list of int.
 */
#include "core.h"

#include <string.h>

void
core_lent_release(core_lent *lent)
{
    for (Py_ssize_t i = 0; i < lent->count; i++) {
        PyBuffer_Release(&lent->items[i]->view);
        PyMem_Free(lent->items[i]);
    }
    PyMem_Free(lent->items);
    memset(lent, 0, sizeof(*lent));
}

/* Acquires a float32 buffer of `obj` into `lent`; NULL with an error set. */
static core_buffer *
lend(core_state *st, core_lent *lent, PyObject *obj, const char *name)
{
    if (lent->count == lent->capacity) {
        Py_ssize_t capacity = lent->capacity ? 2 * lent->capacity : 8;
        core_buffer **items = PyMem_Realloc(lent->items, sizeof(core_buffer *) * (size_t)capacity);
        if (items == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        lent->items = items;
        lent->capacity = capacity;
    }
    core_buffer *buf = PyMem_Malloc(sizeof(core_buffer));
    if (buf == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    if (core_get_float32_buffer(st, obj, name, buf) < 0) {
        PyMem_Free(buf);
        return NULL;
    }
    lent->items[lent->count++] = buf;
    return buf;
}

static int
is_object(core_state *st, PyObject *v)
{
    return PyObject_TypeCheck(v, st->TensorType) || PyObject_TypeCheck(v, st->ObjectType);
}

static ms_object
handle_of(core_state *st, PyObject *v)
{
    return PyObject_TypeCheck(v, st->TensorType) ? ((TensorObject *)v)->handle : ((ObjectObject *)v)->handle;
}

/* The format of an int64 buffer: 'q', or 'l' where long is 64 bits, native or little-endian. */
static int
is_int64(Py_buffer *view)
{
    const char *f = view->format;
    if (f == NULL || view->itemsize != 8) {
        return 0;
    }
    if (f[0] == '@' || f[0] == '=' || f[0] == '<') {
        f++;
    }
    return strcmp(f, "q") == 0 || strcmp(f, "l") == 0;
}

/* A buffer-protocol value: float32 arrays are lent, int64 arrays copied. */
static int
set_buffer(core_state *st, ms_args args, const char *name, PyObject *value, core_lent *lent)
{
    Py_buffer probe;
    if (PyObject_GetBuffer(value, &probe, PyBUF_FORMAT | PyBUF_STRIDES) < 0) {
        PyErr_Clear();
        PyObject *tname = PyType_GetName(Py_TYPE(value));
        core_raise(st, "%s: unsupported value of type %S", name, tname ? tname : Py_None);
        Py_XDECREF(tname);
        return -1;
    }
    if (is_int64(&probe)) {
        Py_buffer view;
        int ok = PyObject_GetBuffer(value, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) == 0;
        PyBuffer_Release(&probe);
        if (!ok) {
            PyErr_Clear();
            core_raise(st, "%s: expected a C-contiguous int64 array", name);
            return -1;
        }
        if (view.ndim != 1) {
            PyBuffer_Release(&view);
            core_raise(st, "%s: expected a 1-D int64 array, got %d dimensions", name, view.ndim);
            return -1;
        }
        int status = ms_args_set_ints(args, name, view.buf, (int64_t)(view.len / 8));
        PyBuffer_Release(&view);
        return status == MS_OK ? 0 : (core_raise_status(st, status), -1);
    }
    PyBuffer_Release(&probe);
    core_buffer *buf = lend(st, lent, value, name);
    if (buf == NULL) {
        return -1;
    }
    int status = ms_args_set_view(args, name, buf->view.buf, buf->shape, buf->view.ndim);
    return status == MS_OK ? 0 : (core_raise_status(st, status), -1);
}

/* A list or tuple: all engine objects, or all float32 buffers. */
static int
set_list(core_state *st, ms_args args, const char *name, PyObject *value, core_lent *lent)
{
    PyObject *items = PySequence_Tuple(value);
    if (items == NULL) {
        return -1;
    }
    Py_ssize_t n = PyTuple_Size(items);
    int status = MS_OK, objects = n == 0 || is_object(st, PyTuple_GetItem(items, 0));
    if (objects) {
        ms_object *handles = PyMem_Calloc((size_t)(n ? n : 1), sizeof(ms_object));
        if (handles == NULL) {
            Py_DECREF(items);
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *item = PyTuple_GetItem(items, i);
            if (!is_object(st, item)) {
                PyMem_Free(handles);
                Py_DECREF(items);
                core_raise(st, "%s[%zd]: expected a metaswift object like the others, got %R", name, i, item);
                return -1;
            }
            handles[i] = handle_of(st, item);
        }
        status = ms_args_set_objects(args, name, handles, (int64_t)n);
        PyMem_Free(handles);
    } else {
        ms_view *views = PyMem_Calloc((size_t)n, sizeof(ms_view));
        if (views == NULL) {
            Py_DECREF(items);
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *label = PyUnicode_FromFormat("%s[%zd]", name, i);
            const char *item_name = label ? PyUnicode_AsUTF8AndSize(label, NULL) : NULL;
            core_buffer *buf = item_name ? lend(st, lent, PyTuple_GetItem(items, i), item_name) : NULL;
            Py_XDECREF(label);
            if (buf == NULL) {
                PyMem_Free(views);
                Py_DECREF(items);
                return -1;
            }
            views[i].data = buf->view.buf;
            views[i].shape = buf->shape;
            views[i].rank = buf->view.ndim;
        }
        status = ms_args_set_views(args, name, views, (int64_t)n);
        PyMem_Free(views);
    }
    Py_DECREF(items);
    return status == MS_OK ? 0 : (core_raise_status(st, status), -1);
}

static int
set_value(core_state *st, ms_args args, const char *name, PyObject *value, core_lent *lent)
{
    int status;
    if (value == Py_None) {
        status = ms_args_set_none(args, name);
    } else if (PyBool_Check(value)) {
        status = ms_args_set_int(args, name, value == Py_True);
    } else if (PyLong_Check(value)) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow > 0) {
            unsigned long long u = PyLong_AsUnsignedLongLong(value);
            if (u == (unsigned long long)-1 && PyErr_Occurred()) {
                PyErr_Clear();
                core_raise(st, "%s: expected an integer in [0, 2**64) or in the int64 range", name);
                return -1;
            }
            status = ms_args_set_uint(args, name, (uint64_t)u);
        } else if (overflow < 0) {
            core_raise(st, "%s: expected an integer in [0, 2**64) or in the int64 range", name);
            return -1;
        } else {
            status = ms_args_set_int(args, name, (int64_t)v);
        }
    } else if (PyFloat_Check(value)) {
        status = ms_args_set_float(args, name, PyFloat_AsDouble(value));
    } else if (PyUnicode_Check(value)) {
        Py_ssize_t size = 0;
        const char *text = PyUnicode_AsUTF8AndSize(value, &size);
        if (text == NULL) {
            PyErr_Clear();
            core_raise(st, "%s: %R is not valid Unicode", name, value);
            return -1;
        }
        if ((size_t)size != strlen(text)) {
            core_raise(st, "%s: %R contains a NUL character", name, value);
            return -1;
        }
        status = ms_args_set_string(args, name, text);
    } else if (is_object(st, value)) {
        status = ms_args_set_object(args, name, handle_of(st, value));
    } else if (PyList_Check(value) || PyTuple_Check(value)) {
        return set_list(st, args, name, value, lent);
    } else {
        return set_buffer(st, args, name, value, lent);
    }
    return status == MS_OK ? 0 : (core_raise_status(st, status), -1);
}

int
core_args_from_kwargs(core_state *st, PyObject *kwargs, ms_args *out, core_lent *lent)
{
    memset(lent, 0, sizeof(*lent));
    int status = ms_args_new(out);
    if (status != MS_OK) {
        core_raise_status(st, status);
        return -1;
    }
    if (kwargs == NULL) {
        return 0;
    }
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(kwargs, &pos, &key, &value)) {
        const char *name = PyUnicode_AsUTF8AndSize(key, NULL);
        if (name == NULL || set_value(st, *out, name, value, lent) < 0) {
            return -1;
        }
    }
    return 0;
}

/* The value at `index` of a result bag as a new Python object. */
static PyObject *
result_value(core_state *st, ms_args results, int64_t index)
{
    int type = MS_NONE, status = ms_args_type(&type, results, index);
    int64_t n = 0;
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    switch (type) {
    case MS_NONE:
        Py_RETURN_NONE;
    case MS_INT: {
        int64_t v = 0;
        status = ms_args_get_int(&v, results, index);
        return status == MS_OK ? PyLong_FromLongLong(v) : core_raise_status(st, status);
    }
    case MS_FLOAT: {
        double v = 0;
        status = ms_args_get_float(&v, results, index);
        return status == MS_OK ? PyFloat_FromDouble(v) : core_raise_status(st, status);
    }
    case MS_STRING: {
        const char *v = NULL;
        status = ms_args_get_string(&v, results, index);
        return status == MS_OK ? PyUnicode_FromString(v) : core_raise_status(st, status);
    }
    case MS_OBJECT: {
        ms_object handle = NULL;
        status = ms_args_get_object(&handle, results, index);
        return status == MS_OK ? core_wrap(st, handle) : core_raise_status(st, status);
    }
    case MS_OBJECTS:
    case MS_INTS: {
        status = ms_args_length(&n, results, index);
        if (status != MS_OK) {
            return core_raise_status(st, status);
        }
        void *items = PyMem_Calloc((size_t)(n ? n : 1), 8);
        if (items == NULL) {
            return PyErr_NoMemory();
        }
        status = type == MS_INTS ? ms_args_get_ints(items, n, results, index)
                                 : ms_args_get_objects(items, n, results, index);
        if (status != MS_OK) {
            PyMem_Free(items);
            return core_raise_status(st, status);
        }
        PyObject *list = PyList_New((Py_ssize_t)n);
        for (int64_t i = 0; i < n; i++) {
            PyObject *item = NULL;
            if (type == MS_INTS) {
                item = list ? PyLong_FromLongLong(((int64_t *)items)[i]) : NULL;
            } else if (list != NULL) {
                item = core_wrap(st, ((ms_object *)items)[i]);
            } else {
                (void)ms_free(((ms_object *)items)[i]); /* the list failed: free the rest */
            }
            if (list != NULL && item == NULL) {
                Py_CLEAR(list);
            } else if (list != NULL) {
                PyList_SetItem(list, (Py_ssize_t)i, item);
            }
        }
        PyMem_Free(items);
        return list;
    }
    default:
        return core_raise(st, "internal error: a result of unknown type %d", type);
    }
}

PyObject *
core_results_to_dict(core_state *st, ms_args results)
{
    int64_t n = 0;
    int status = ms_args_count(&n, results);
    PyObject *dict = status == MS_OK ? PyDict_New() : core_raise_status(st, status);
    for (int64_t i = 0; dict != NULL && i < n; i++) {
        const char *name = NULL;
        status = ms_args_name(&name, results, i);
        PyObject *value = status == MS_OK ? result_value(st, results, i) : core_raise_status(st, status);
        if (value == NULL || PyDict_SetItemString(dict, name, value) < 0) {
            Py_CLEAR(dict);
        }
        Py_XDECREF(value);
    }
    (void)ms_args_free(results);
    return dict;
}

PyObject *
core_new_object(core_state *st, const char *kind, PyObject *kwargs)
{
    ms_args args = NULL;
    core_lent lent;
    if (core_args_from_kwargs(st, kwargs, &args, &lent) < 0) {
        (void)ms_args_free(args);
        core_lent_release(&lent);
        return NULL;
    }
    ms_object handle = NULL;
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = ms_new(&handle, kind, args);
    Py_END_ALLOW_THREADS
    (void)ms_args_free(args);
    core_lent_release(&lent);
    return status == MS_OK ? core_wrap(st, handle) : core_raise_status(st, status);
}

PyObject *
core_call(core_state *st, ms_object object, const char *method, PyObject *kwargs)
{
    ms_args args = NULL, results = NULL;
    core_lent lent;
    if (core_args_from_kwargs(st, kwargs, &args, &lent) < 0) {
        (void)ms_args_free(args);
        core_lent_release(&lent);
        return NULL;
    }
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = ms_call(&results, object, method, args);
    Py_END_ALLOW_THREADS
    (void)ms_args_free(args);
    core_lent_release(&lent);
    return status == MS_OK ? core_results_to_dict(st, results) : core_raise_status(st, status);
}

PyObject *
core_lent_addresses(core_state *st, PyObject *kwargs)
{
    ms_args args = NULL;
    core_lent lent;
    PyObject *out = NULL;
    if (core_args_from_kwargs(st, kwargs, &args, &lent) == 0) {
        out = PyList_New(lent.count);
        for (Py_ssize_t i = 0; out != NULL && i < lent.count; i++) {
            PyObject *address = PyLong_FromVoidPtr(lent.items[i]->view.buf);
            if (address == NULL) {
                Py_CLEAR(out);
            } else {
                PyList_SetItem(out, i, address);
            }
        }
    }
    (void)ms_args_free(args);
    core_lent_release(&lent);
    return out;
}
