/*
 * Tasks from Python to the engine: a sequence of (x_support, y_support,
 * x_query, y_query) buffers becomes an array of ms_task views of the callers'
 * memory, without copies. The buffers stay acquired (so their exporters stay
 * alive and cannot be resized) until core_task_views_release.
 */
#include "core.h"

#include <stdio.h>
#include <string.h>

static const char *const task_fields[4] = {"x_support", "y_support", "x_query", "y_query"};

void
core_task_views_release(core_task_views *tv)
{
    for (Py_ssize_t i = 0; i < tv->held; i++) {
        core_buffer_release(&tv->buffers[i]);
    }
    PyMem_Free(tv->buffers);
    PyMem_Free(tv->tasks);
    memset(tv, 0, sizeof(*tv));
}

void
core_set_view(ms_view *view, core_buffer *buf)
{
    view->data = buf->view.buf;
    view->shape = buf->shape;
    view->rank = buf->view.ndim;
}

int
core_task_views_get(core_state *st, PyObject *tasks, core_task_views *tv)
{
    memset(tv, 0, sizeof(*tv));
    PyObject *items = PySequence_Tuple(tasks);
    if (items == NULL) {
        PyErr_Clear();
        core_raise(st, "tasks: expected a sequence of (x_support, y_support, x_query, y_query) tuples");
        return -1;
    }
    Py_ssize_t n = PyTuple_Size(items);
    if (n == 0) {
        Py_DECREF(items);
        core_raise(st, "tasks: need at least one task");
        return -1;
    }
    tv->buffers = PyMem_Calloc((size_t)n * 4, sizeof(core_buffer));
    tv->tasks = PyMem_Calloc((size_t)n, sizeof(ms_task));
    tv->count = n;
    if (tv->buffers == NULL || tv->tasks == NULL) {
        Py_DECREF(items);
        core_task_views_release(tv);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *task = PySequence_Tuple(PyTuple_GetItem(items, i));
        if (task == NULL || PyTuple_Size(task) != 4) {
            PyErr_Clear();
            Py_XDECREF(task);
            Py_DECREF(items);
            core_task_views_release(tv);
            core_raise(st, "tasks[%zd]: expected a tuple of 4 arrays (x_support, y_support, x_query, y_query)", i);
            return -1;
        }
        ms_view *views[4] = {&tv->tasks[i].x_support, &tv->tasks[i].y_support, &tv->tasks[i].x_query,
                             &tv->tasks[i].y_query};
        for (int k = 0; k < 4; k++) {
            char name[64];
            snprintf(name, sizeof name, "tasks[%zd].%s", i, task_fields[k]);
            core_buffer *buf = &tv->buffers[4 * i + k];
            if (core_get_float32_buffer(st, PyTuple_GetItem(task, k), name, buf) < 0) {
                Py_DECREF(task);
                Py_DECREF(items);
                core_task_views_release(tv);
                return -1;
            }
            tv->held++;
            core_set_view(views[k], buf);
        }
        Py_DECREF(task);
    }
    Py_DECREF(items);
    return 0;
}

PyObject *
core_task_addresses(PyObject *module, PyObject *tasks)
{
    core_state *st = PyModule_GetState(module);
    core_task_views tv;
    if (core_task_views_get(st, tasks, &tv) < 0) {
        return NULL;
    }
    PyObject *out = PyList_New(0);
    for (Py_ssize_t i = 0; out != NULL && i < tv.count; i++) {
        const ms_view views[4] = {tv.tasks[i].x_support, tv.tasks[i].y_support, tv.tasks[i].x_query,
                                  tv.tasks[i].y_query};
        for (int k = 0; k < 4; k++) {
            PyObject *address = PyLong_FromVoidPtr((void *)views[k].data);
            if (address == NULL || PyList_Append(out, address) < 0) {
                Py_XDECREF(address);
                Py_CLEAR(out);
                break;
            }
            Py_DECREF(address);
        }
    }
    core_task_views_release(&tv);
    return out;
}

