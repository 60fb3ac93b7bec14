/*
 * Few-shot classification in metaswift._core: classification tasksets over a
 * labelled array (new_taskset_arrays), Conv4 (new_conv4), ProtoNet
 * (new_protonet), the Learner methods query_logits / predict /
 * evaluate_classification, and MetaEval's summaries, metrics, class folds and
 * splits. Integer arrays (labels, class ids, predictions) cross as int64
 * buffers; the GIL is released around every call that computes.
 */
#include "core.h"

#include <string.h>

/* '@', '=' and '<' are native on the little-endian hosts we build for. */
static int
is_native_int64(const char *format, Py_ssize_t itemsize)
{
    if (format == NULL || itemsize != 8) {
        return 0;
    }
    if (format[0] == '@' || format[0] == '=' || format[0] == '<') {
        format++;
    }
    return strcmp(format, "l") == 0 || strcmp(format, "q") == 0;
}

int
core_get_int64_buffer(core_state *st, PyObject *obj, const char *name, core_buffer *out, int writable)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, &out->view, flags) < 0) {
        PyErr_Clear();
        core_raise(st, "%s: expected a C-contiguous%s int64 buffer", name, writable ? " writable" : "");
        return -1;
    }
    if (!is_native_int64(out->view.format, out->view.itemsize)) {
        core_raise(st, "%s: expected int64 elements, got buffer format '%s'", name,
                   out->view.format ? out->view.format : "B");
        PyBuffer_Release(&out->view);
        return -1;
    }
    if (out->view.ndim != 1) {
        core_raise(st, "%s: expected a 1-D array, got %d dimensions", name, out->view.ndim);
        PyBuffer_Release(&out->view);
        return -1;
    }
    out->shape[0] = (int64_t)out->view.shape[0];
    return 0;
}

/* ---- Constructors ------------------------------------------------------ */

PyObject *
core_new_taskset_arrays(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"images", "labels", "ways", "shots", "queries", "classes", "seed", NULL};
    PyObject *images, *labels_obj, *classes_obj, *seed_obj;
    long long ways, shots, queries;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOLLLOO:new_taskset_arrays", keywords, &images, &labels_obj,
                                     &ways, &shots, &queries, &classes_obj, &seed_obj)) {
        return NULL;
    }
    core_state *st = PyModule_GetState(module);
    uint64_t seed;
    if (core_check_type(st, images, st->TensorType, "images") < 0 ||
        core_uint64_arg(st, seed_obj, "seed", &seed) < 0) {
        return NULL;
    }
    core_buffer labels, classes;
    if (core_get_int64_buffer(st, labels_obj, "labels", &labels, 0) < 0) {
        return NULL;
    }
    int has_classes = classes_obj != Py_None;
    if (has_classes && core_get_int64_buffer(st, classes_obj, "classes", &classes, 0) < 0) {
        core_buffer_release(&labels);
        return NULL;
    }
    ms_taskset handle = NULL;
    int status;
    ms_tensor x = ((TensorObject *)images)->handle;
    Py_BEGIN_ALLOW_THREADS /* scans the images for NaN */
    status = ms_taskset_new_arrays(&handle, x, labels.view.buf, labels.shape[0], ways, shots, queries,
                                   has_classes ? classes.view.buf : NULL, has_classes ? classes.shape[0] : 0, seed);
    Py_END_ALLOW_THREADS
    core_buffer_release(&labels);
    if (has_classes) {
        core_buffer_release(&classes);
    }
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    return core_wrap_taskset(st, handle);
}

PyObject *
core_new_conv4(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"in_channels", "hidden", "blocks", "outputs", "image_size", "seed", NULL};
    long long in_channels, hidden, blocks, outputs, image_size;
    PyObject *seed_obj;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "LLLLLO:new_conv4", keywords, &in_channels, &hidden, &blocks,
                                     &outputs, &image_size, &seed_obj)) {
        return NULL;
    }
    core_state *st = PyModule_GetState(module);
    uint64_t seed;
    if (core_uint64_arg(st, seed_obj, "seed", &seed) < 0) {
        return NULL;
    }
    ms_model handle = NULL;
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = ms_model_new_conv4(&handle, in_channels, hidden, blocks, outputs, image_size, seed);
    Py_END_ALLOW_THREADS
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    return core_model_from_handle(st, handle);
}

PyObject *
core_new_protonet(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"model", "distance", NULL};
    PyObject *model;
    const char *distance;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "Os:new_protonet", keywords, &model, &distance)) {
        return NULL;
    }
    core_state *st = PyModule_GetState(module);
    if (core_check_type(st, model, st->ModelType, "model") < 0) {
        return NULL;
    }
    ms_learner handle = NULL;
    int status = ms_protonet_new(&handle, ((ModelObject *)model)->handle, distance);
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    return core_learner_from_handle(st, handle, model);
}

/* ---- Learner methods ----------------------------------------------------- */

/* The three float32 buffers of an episode (x_support, y_support, x_query). */
static int
episode_buffers(core_state *st, PyObject *objs[3], core_buffer bufs[3], ms_view views[3])
{
    static const char *const names[3] = {"x_support", "y_support", "x_query"};
    for (int k = 0; k < 3; k++) {
        if (core_get_float32_buffer(st, objs[k], names[k], &bufs[k]) < 0) {
            for (int j = 0; j < k; j++) {
                core_buffer_release(&bufs[j]);
            }
            return -1;
        }
        core_set_view(&views[k], &bufs[k]);
    }
    return 0;
}

static void
episode_release(core_buffer bufs[3])
{
    for (int k = 0; k < 3; k++) {
        core_buffer_release(&bufs[k]);
    }
}

PyObject *
core_learner_query_logits(PyObject *self, PyObject *args)
{
    core_state *st = core_state_of(self);
    PyObject *objs[3];
    long long steps;
    if (!PyArg_ParseTuple(args, "OOOL:query_logits", &objs[0], &objs[1], &objs[2], &steps)) {
        return NULL;
    }
    core_buffer bufs[3];
    ms_view views[3];
    if (episode_buffers(st, objs, bufs, views) < 0) {
        return NULL;
    }
    ms_tensor out = NULL;
    int status;
    ms_learner l = ((LearnerObject *)self)->handle;
    Py_BEGIN_ALLOW_THREADS
    status = ms_learner_query_logits(&out, l, &views[0], &views[1], &views[2], steps);
    Py_END_ALLOW_THREADS
    episode_release(bufs);
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    return core_tensor_from_handle(st, out);
}

PyObject *
core_learner_predict(PyObject *self, PyObject *args)
{
    core_state *st = core_state_of(self);
    PyObject *objs[3], *out_obj;
    long long steps;
    if (!PyArg_ParseTuple(args, "OOOLO:predict", &objs[0], &objs[1], &objs[2], &steps, &out_obj)) {
        return NULL;
    }
    core_buffer out;
    if (core_get_int64_buffer(st, out_obj, "out", &out, 1) < 0) {
        return NULL;
    }
    core_buffer bufs[3];
    ms_view views[3];
    if (episode_buffers(st, objs, bufs, views) < 0) {
        core_buffer_release(&out);
        return NULL;
    }
    int status;
    ms_learner l = ((LearnerObject *)self)->handle;
    Py_BEGIN_ALLOW_THREADS
    status = ms_learner_predict(out.view.buf, out.shape[0], l, &views[0], &views[1], &views[2], steps);
    Py_END_ALLOW_THREADS
    episode_release(bufs);
    core_buffer_release(&out);
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    Py_RETURN_NONE;
}

PyObject *
core_learner_evaluate_classification(PyObject *self, PyObject *args)
{
    core_state *st = core_state_of(self);
    PyObject *taskset, *seed_obj, *objs[5];
    long long task_count, steps;
    if (!PyArg_ParseTuple(args, "OLLOOOOOO:evaluate_classification", &taskset, &task_count, &steps, &seed_obj,
                          &objs[0], &objs[1], &objs[2], &objs[3], &objs[4])) {
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
    static const char *const names[5] = {"loss_curve", "accuracy_curve", "task_losses", "task_accuracies",
                                         "task_macro_f1s"};
    const Py_ssize_t sizes[5] = {(Py_ssize_t)steps + 1, (Py_ssize_t)steps + 1, (Py_ssize_t)task_count,
                                 (Py_ssize_t)task_count, (Py_ssize_t)task_count};
    core_buffer bufs[5];
    int held = 0;
    for (; held < 5; held++) {
        if (core_get_writable_float32_buffer(st, objs[held], names[held], &bufs[held]) < 0) {
            break;
        }
        if (bufs[held].view.len != sizes[held] * (Py_ssize_t)sizeof(float)) {
            core_raise(st, "%s: expected %zd floats, got %zd", names[held], sizes[held],
                       bufs[held].view.len / (Py_ssize_t)sizeof(float));
            core_buffer_release(&bufs[held]);
            break;
        }
    }
    int status = MS_OK;
    if (held == 5) {
        ms_learner l = ((LearnerObject *)self)->handle;
        ms_taskset ts = ((TasksetObject *)taskset)->handle;
        Py_BEGIN_ALLOW_THREADS
        status = ms_learner_evaluate_classification(bufs[0].view.buf, bufs[1].view.buf, bufs[2].view.buf,
                                                    bufs[3].view.buf, bufs[4].view.buf, l, ts, task_count, steps,
                                                    seed);
        Py_END_ALLOW_THREADS
    }
    for (int k = 0; k < held; k++) {
        core_buffer_release(&bufs[k]);
    }
    if (held < 5) {
        return NULL;
    }
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    Py_RETURN_NONE;
}

/* ---- MetaEval -------------------------------------------------------------- */

PyObject *
core_summarize(PyObject *module, PyObject *args)
{
    core_state *st = PyModule_GetState(module);
    PyObject *values_obj;
    long long ddof;
    if (!PyArg_ParseTuple(args, "OL:summarize", &values_obj, &ddof)) {
        return NULL;
    }
    core_buffer values;
    if (core_get_float32_buffer(st, values_obj, "values", &values) < 0) {
        return NULL;
    }
    float mean = 0, half = 0, std = 0;
    int status = ms_summarize(&mean, &half, &std, values.view.buf, values.view.len / (Py_ssize_t)sizeof(float), ddof);
    core_buffer_release(&values);
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    return Py_BuildValue("(ddd)", (double)mean, (double)half, (double)std);
}

PyObject *
core_classification_metrics(PyObject *module, PyObject *args)
{
    core_state *st = PyModule_GetState(module);
    PyObject *predicted_obj, *labels_obj;
    long long classes;
    if (!PyArg_ParseTuple(args, "OOL:classification_metrics", &predicted_obj, &labels_obj, &classes)) {
        return NULL;
    }
    core_buffer predicted, labels;
    if (core_get_int64_buffer(st, predicted_obj, "predicted", &predicted, 0) < 0) {
        return NULL;
    }
    if (core_get_int64_buffer(st, labels_obj, "labels", &labels, 0) < 0) {
        core_buffer_release(&predicted);
        return NULL;
    }
    if (predicted.shape[0] != labels.shape[0]) {
        core_raise(st, "labels: has %lld entries but predicted has %lld", (long long)labels.shape[0],
                   (long long)predicted.shape[0]);
        core_buffer_release(&predicted);
        core_buffer_release(&labels);
        return NULL;
    }
    float accuracy = 0, macro_f1 = 0;
    int status = ms_classification_metrics(&accuracy, &macro_f1, predicted.view.buf, labels.view.buf,
                                           labels.shape[0], classes);
    core_buffer_release(&predicted);
    core_buffer_release(&labels);
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    return Py_BuildValue("(dd)", (double)accuracy, (double)macro_f1);
}

/* Shared by class_folds and class_split: `classes` in, one int64 per class out. */
static int
class_buffers(core_state *st, PyObject *classes_obj, PyObject *out_obj, core_buffer *classes, core_buffer *out)
{
    if (core_get_int64_buffer(st, classes_obj, "classes", classes, 0) < 0) {
        return -1;
    }
    if (core_get_int64_buffer(st, out_obj, "out", out, 1) < 0) {
        core_buffer_release(classes);
        return -1;
    }
    if (out->shape[0] != classes->shape[0]) {
        core_raise(st, "out: expected %lld entries, got %lld", (long long)classes->shape[0], (long long)out->shape[0]);
        core_buffer_release(classes);
        core_buffer_release(out);
        return -1;
    }
    return 0;
}

PyObject *
core_class_folds(PyObject *module, PyObject *args)
{
    core_state *st = PyModule_GetState(module);
    PyObject *classes_obj, *out_obj, *seed_obj;
    long long folds;
    if (!PyArg_ParseTuple(args, "OLOO:class_folds", &classes_obj, &folds, &seed_obj, &out_obj)) {
        return NULL;
    }
    uint64_t seed;
    core_buffer classes, out;
    if (core_uint64_arg(st, seed_obj, "seed", &seed) < 0 || class_buffers(st, classes_obj, out_obj, &classes, &out) < 0) {
        return NULL;
    }
    int status = ms_class_folds(out.view.buf, classes.view.buf, classes.shape[0], folds, seed);
    core_buffer_release(&classes);
    core_buffer_release(&out);
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    Py_RETURN_NONE;
}

PyObject *
core_class_split(PyObject *module, PyObject *args)
{
    core_state *st = PyModule_GetState(module);
    PyObject *classes_obj, *out_obj, *seed_obj;
    long long train, validation, test;
    if (!PyArg_ParseTuple(args, "OLLLOO:class_split", &classes_obj, &train, &validation, &test, &seed_obj, &out_obj)) {
        return NULL;
    }
    uint64_t seed;
    core_buffer classes, out;
    if (core_uint64_arg(st, seed_obj, "seed", &seed) < 0 || class_buffers(st, classes_obj, out_obj, &classes, &out) < 0) {
        return NULL;
    }
    int status = ms_class_split(out.view.buf, classes.view.buf, classes.shape[0], train, validation, test, seed);
    core_buffer_release(&classes);
    core_buffer_release(&out);
    if (status != MS_OK) {
        return core_raise_status(st, status);
    }
    Py_RETURN_NONE;
}
