/*
 * The DLPack ABI, version 1.0: the part of it a CPU producer needs.
 *
 * Written from the specification (https://dmlc.github.io/dlpack/latest/,
 * c_api.html and python_spec.html) rather than vendored: the full upstream
 * header (dmlc/dlpack include/dlpack/dlpack.h, Apache-2.0) has grown device
 * types, data types and a C exchange API that a float32 CPU tensor never uses.
 * The layouts below are the stable ABI: field order and types must match the
 * specification exactly, since consumers (NumPy, PyTorch, JAX, ...) read these
 * structs from our memory. Minor versions only add enumeration values.
 */
#ifndef METASWIFT_DLPACK_H
#define METASWIFT_DLPACK_H

#include <stdint.h>

/* The version we export: what DLManagedTensorVersioned.version says. */
#define DLPACK_MAJOR_VERSION 1
#define DLPACK_MINOR_VERSION 0

/* The Python capsule names: a consumer renames a capsule to the "used_" name
 * when it takes ownership, and from then on calls the deleter itself. */
#define DLPACK_TENSOR_UNUSED_NAME "dltensor"
#define DLPACK_TENSOR_USED_NAME "used_dltensor"
#define DLPACK_VERSIONED_TENSOR_UNUSED_NAME "dltensor_versioned"
#define DLPACK_VERSIONED_TENSOR_USED_NAME "used_dltensor_versioned"

typedef struct {
    uint32_t major;
    uint32_t minor;
} DLPackVersion;

/* Device types: only the CPU is ever exported here; CUDA is named for messages. */
typedef enum {
    kDLCPU = 1,
    kDLCUDA = 2,
} DLDeviceType;

typedef struct {
    DLDeviceType device_type;
    int32_t device_id; /* 0 for the CPU */
} DLDevice;

typedef enum {
    kDLInt = 0U,
    kDLUInt = 1U,
    kDLFloat = 2U,
} DLDataTypeCode;

typedef struct {
    uint8_t code;   /* a DLDataTypeCode */
    uint8_t bits;   /* 32 for float32 */
    uint16_t lanes; /* 1: not a vector type */
} DLDataType;

typedef struct {
    void *data;          /* the first element is at data + byte_offset */
    DLDevice device;
    int32_t ndim;
    DLDataType dtype;
    int64_t *shape;      /* ndim entries */
    int64_t *strides;    /* ndim entries, in elements (not bytes); never NULL when ndim > 0 */
    uint64_t byte_offset;
} DLTensor;

/* The legacy ("dltensor") managed tensor: it has no flags, so it cannot say
 * that the memory is read-only. */
typedef struct DLManagedTensor {
    DLTensor dl_tensor;
    void *manager_ctx;
    void (*deleter)(struct DLManagedTensor *self); /* frees `self` too */
} DLManagedTensor;

/* The tensor must not be written through this export. */
#define DLPACK_FLAG_BITMASK_READ_ONLY (1UL << 0UL)
/* The producer made a copy that the consumer owns alone until the deleter runs. */
#define DLPACK_FLAG_BITMASK_IS_COPIED (1UL << 1UL)

/* The versioned ("dltensor_versioned") managed tensor, DLPack 1.0 and later.
 * Everything up to `flags` stays put across major versions, so a consumer can
 * always read the version and call the deleter. */
typedef struct DLManagedTensorVersioned {
    DLPackVersion version;
    void *manager_ctx;
    void (*deleter)(struct DLManagedTensorVersioned *self); /* frees `self` too */
    uint64_t flags;
    DLTensor dl_tensor;
} DLManagedTensorVersioned;

#endif
