/*
 * A stand-in for libnvidia-ml.so.1: simulated NVIDIA A100-SXM4-80GB GPUs for tests and
 * benchmarks on machines without a GPU. It exports the NVML symbols that the `pynvml`
 * bindings (nvidia-ml-py 13.x) and nvitop call, with the same struct layouts.
 *
 * Build:  gcc -shared -fPIC -O2 -o libnvidia-ml.so.1 fake_nvml.c -lm
 * Use:    LD_LIBRARY_PATH=<dir holding libnvidia-ml.so.1> python ...
 *
 * Environment (read once, at the first nvmlInit):
 *   FAKE_NVML_GPUS=N            number of GPUs (default 8, at most 64)
 *   FAKE_NVML_NOT_SUPPORTED=a,b fields answering NVML_ERROR_NOT_SUPPORTED on every GPU, from:
 *                               memory, utilization, temperature, power, power_limit, clocks,
 *                               fan, processes
 *   FAKE_NVML_FAN=1             report a fan speed (default: NOT_SUPPORTED, as on an A100)
 *   FAKE_NVML_LOST_GPU=I        GPU I falls off the bus: every call on it, and getting its
 *                               handle, answers NVML_ERROR_GPU_IS_LOST ...
 *   FAKE_NVML_LOST_AFTER=S      ... S seconds after the first nvmlInit (default 0)
 *   FAKE_NVML_NO_DRIVER=1       nvmlInit answers NVML_ERROR_DRIVER_NOT_LOADED
 *   FAKE_NVML_PROCS=N           compute processes per GPU (default 2, at most 8)
 *   FAKE_NVML_PID=P             p1 (below) is pid P instead of the calling process: a process
 *                               a test started, to be signalled from the processes table
 *   FAKE_NVML_TIME=T            freeze the clock at T (seconds since the epoch); default: now
 *   FAKE_NVML_SPEED=X           the clock runs X times as fast as real time from the first
 *                               nvmlInit (default 1), so values move a lot in a short test
 *   FAKE_NVML_MIG=I:P,P;J:P     GPUs in MIG mode and their GPU instances, by profile, e.g.
 *                               "0:3g.40gb,1g.10gb,1g.10gb" (profiles 1g.10gb, 2g.20gb,
 *                               3g.40gb, 4g.40gb, 7g.80gb; at most 7 per GPU). The other GPUs
 *                               answer MIG mode disabled.
 *
 * Values at time t (seconds since the epoch) for GPU i, integers rounded half away from zero:
 *   util(i,t)     = round(50 + 45 sin(2 pi t / 60 + 0.9 i))                 %, GPU busy
 *   mem_util      = util * 45 / 100 (integer division)                     %, memory bus
 *   used_mib(i,t) = 28900 + 1500 i + round(15000 + 15000 sin(2 pi t / 300 + 1.3 i))
 *   total         = 81920 MiB; free = total - used; reserved = 0
 *   temperature   = 35 + util * 35 / 100 + i                               degrees C
 *   power         = 62000 + 3000 util + 1000 i                             mW
 *   power limit   = 400000 mW (enforced, management and default)
 *   clocks        = SM and graphics 1410 MHz, memory 1593 MHz, video 1275 MHz (also the max)
 *   fan           = 30 + util / 4 (only with FAKE_NVML_FAN=1)
 *   uuid          = GPU-%08x-%04x-%04x-%04x-%012x from a hash of i (see make_uuid)
 *   processes     = p0: a pid that cannot exist (pid_max + 1 + 8 i), used_mib - 512 (n - 1) MiB;
 *                   p1: the calling process (getpid()), or FAKE_NVML_PID, 512 MiB;
 *                   pk, k >= 2: pid_max + 1 + 8 i + k, 512 MiB
 *
 * A GPU in MIG mode: its MIG device s (s = 0, 1, ... in the order given) is GPU instance
 * gi(s) (the first free id of its profile: 7g 0; 3g 1-2; 4g 5; 2g 3-6; 1g 7-13), compute
 * instance 0, named "NVIDIA A100-SXM4-80GB MIG <profile>", uuid MIG-<the GPU's uuid digits
 * with s as the last hex digit>. Its memory:
 *   mig_total(s)  = 9856 MiB per slice of 1g/2g, 40192 MiB for 3g/4g, 80896 MiB for 7g
 *   mig_used(i,s,t) = round(mig_total(s) * (0.3 + 0.25 (1 + sin(2 pi t / 300 + 1.3 i + 0.7 s))))
 *   utilization, temperature, power, clocks, fan: NOT_SUPPORTED on a MIG device (as NVML)
 *   processes     = one per instance, pid pid_max + 1 + 512 + 64 i + 8 s, mig_used - 256 MiB,
 *                   with its GPU and compute instance ids
 * The parent in MIG mode: used = the sum of its instances' used; utilization NOT_SUPPORTED;
 * its processes are all its instances' (with their instance ids), as NVML lists them.
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef int nvmlReturn_t;
enum {
    NVML_SUCCESS = 0,
    NVML_ERROR_UNINITIALIZED = 1,
    NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_NOT_SUPPORTED = 3,
    NVML_ERROR_NOT_FOUND = 6,
    NVML_ERROR_INSUFFICIENT_SIZE = 7,
    NVML_ERROR_DRIVER_NOT_LOADED = 9,
    NVML_ERROR_GPU_IS_LOST = 15,
    NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25,
    NVML_ERROR_UNKNOWN = 999,
};

enum {
    F_MEMORY = 1 << 0,
    F_UTILIZATION = 1 << 1,
    F_TEMPERATURE = 1 << 2,
    F_POWER = 1 << 3,
    F_POWER_LIMIT = 1 << 4,
    F_CLOCKS = 1 << 5,
    F_FAN = 1 << 6,
    F_PROCESSES = 1 << 7,
};

#define MAX_GPUS 64
#define MAX_PROCS 8
#define MIB 1048576ULL
#define TOTAL_MIB 81920ULL
#define PROC_SMALL_MIB 512ULL

#define MAX_MIG 7

struct nvmlDevice_st {
    unsigned index;  /* a MIG device: its parent's index */
    char uuid[48];
    char serial[20];
    char bus_id[32];
    unsigned bus;
    int is_mig;
    unsigned slot, gi;           /* a MIG device: its slot and GPU instance id */
    unsigned long long mig_total; /* a MIG device: MiB */
    unsigned slices;
    char profile[16];
    unsigned mig_count;          /* a GPU in MIG mode: its MIG devices */
};
typedef struct nvmlDevice_st *nvmlDevice_t;

typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct { unsigned version; unsigned long long total, reserved, free, used; } nvmlMemory_v2_t;
typedef struct { unsigned long long bar1Total, bar1Free, bar1Used; } nvmlBAR1Memory_t;
typedef struct { unsigned gpu, memory; } nvmlUtilization_t;
typedef struct { unsigned version; int sensorType; int temperature; } nvmlTemperature_v1_t;
typedef struct {
    unsigned pid;
    unsigned long long usedGpuMemory;
    unsigned gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_t;
typedef struct { unsigned pid; unsigned long long usedGpuMemory; } nvmlProcessInfo_v1_t;
typedef struct {
    unsigned pid;
    unsigned long long timeStamp;
    unsigned smUtil, memUtil, encUtil, decUtil;
} nvmlProcessUtilizationSample_t;
typedef struct {
    char busIdLegacy[16];
    unsigned domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[32];
} nvmlPciInfo_t;

#define MEMORY_V2 0x02000028u
#define TEMPERATURE_V1 0x0100000Cu

static struct nvmlDevice_st gpus[MAX_GPUS];
static struct nvmlDevice_st migs[MAX_GPUS][MAX_MIG];
static unsigned gpu_count = 8;
static unsigned not_supported = F_FAN;
static int lost_gpu = -1;
static double lost_after;
static int no_driver;
static unsigned procs_per_gpu = 2;
static int time_frozen;
static double frozen_time;
static double speed = 1.0;
static double real_start;
static unsigned long long fake_pid_base = 4194304ULL + 1;
static unsigned given_pid; /* FAKE_NVML_PID, 0: the calling process */
static double init_mono;
static int init_count;
static pthread_once_t setup_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;

static double mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double real_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double sim_now(void) {
    if (time_frozen) return frozen_time;
    return real_start + speed * (real_now() - real_start);
}

static unsigned field_bit(const char *name, size_t len) {
    static const struct { const char *name; unsigned bit; } fields[] = {
        {"memory", F_MEMORY}, {"utilization", F_UTILIZATION}, {"temperature", F_TEMPERATURE},
        {"power", F_POWER},   {"power_limit", F_POWER_LIMIT}, {"clocks", F_CLOCKS},
        {"fan", F_FAN},       {"processes", F_PROCESSES},
    };
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
        if (strlen(fields[k].name) == len && strncmp(fields[k].name, name, len) == 0)
            return fields[k].bit;
    return 0;
}

static unsigned long long mix(unsigned long long x) {  /* splitmix64: stable ids per index */
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

static void make_uuid(unsigned i, char *out, size_t size) {
    unsigned long long a = mix(0xA100ULL + i), b = mix(a);
    snprintf(out, size, "GPU-%08x-%04x-%04x-%04x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xFFFF, (unsigned)a & 0xFFFF, (unsigned)(b >> 48),
             b & 0xFFFFFFFFFFFFULL);
}

static const struct { const char *name; unsigned slices, first_gi, last_gi; unsigned long long mib; }
    mig_profiles[] = {
        {"1g.10gb", 1, 7, 13, 9856ULL},   {"2g.20gb", 2, 3, 6, 19712ULL},
        {"3g.40gb", 3, 1, 2, 40192ULL},   {"4g.40gb", 4, 5, 5, 40192ULL},
        {"7g.80gb", 7, 0, 0, 80896ULL},
    };

/* "0:3g.40gb,1g.10gb;2:7g.80gb" */
static void setup_mig(const char *v) {
    while (*v) {
        char *end;
        long i = strtol(v, &end, 10);
        if (end == v || *end != ':' || i < 0 || i >= MAX_GPUS) return;
        struct nvmlDevice_st *parent = &gpus[i];
        v = end + 1;
        while (*v && *v != ';') {
            size_t len = strcspn(v, ",;");
            for (size_t p = 0; p < sizeof mig_profiles / sizeof mig_profiles[0]; p++) {
                if (strlen(mig_profiles[p].name) != len || strncmp(mig_profiles[p].name, v, len))
                    continue;
                if (parent->mig_count >= MAX_MIG) break;
                unsigned gi = mig_profiles[p].first_gi, taken = 1;
                while (taken && gi <= mig_profiles[p].last_gi) {
                    taken = 0;
                    for (unsigned s = 0; s < parent->mig_count; s++)
                        if (migs[i][s].gi == gi) taken = 1;
                    if (taken) gi++;
                }
                if (taken) break; /* no placement left for this profile */
                struct nvmlDevice_st *m = &migs[i][parent->mig_count];
                *m = *parent;
                m->is_mig = 1;
                m->slot = parent->mig_count++;
                m->gi = gi;
                m->slices = mig_profiles[p].slices;
                m->mig_total = mig_profiles[p].mib;
                snprintf(m->profile, sizeof m->profile, "%s", mig_profiles[p].name);
                snprintf(m->uuid, sizeof m->uuid, "MIG-%.35s%x", parent->uuid + 4, m->slot);
            }
            v += len + (v[len] == ',');
        }
        if (*v == ';') v++;
    }
}

static void setup(void) {
    static const unsigned dgx_buses[8] = {0x07, 0x0F, 0x47, 0x4E, 0x87, 0x90, 0xB7, 0xBD};
    const char *v;
    if ((v = getenv("FAKE_NVML_GPUS")) && *v) {
        long n = strtol(v, NULL, 10);
        gpu_count = n < 0 ? 0 : n > MAX_GPUS ? MAX_GPUS : (unsigned)n;
    }
    if ((v = getenv("FAKE_NVML_NOT_SUPPORTED"))) {
        while (*v) {
            size_t len = strcspn(v, ",");
            not_supported |= field_bit(v, len);
            v += len + (v[len] == ',');
        }
    }
    if ((v = getenv("FAKE_NVML_FAN")) && strcmp(v, "1") == 0) not_supported &= ~F_FAN;
    if ((v = getenv("FAKE_NVML_LOST_GPU")) && *v) lost_gpu = (int)strtol(v, NULL, 10);
    if ((v = getenv("FAKE_NVML_LOST_AFTER")) && *v) lost_after = strtod(v, NULL);
    if ((v = getenv("FAKE_NVML_NO_DRIVER")) && strcmp(v, "1") == 0) no_driver = 1;
    if ((v = getenv("FAKE_NVML_PROCS")) && *v) {
        long n = strtol(v, NULL, 10);
        procs_per_gpu = n < 0 ? 0 : n > MAX_PROCS ? MAX_PROCS : (unsigned)n;
    }
    if ((v = getenv("FAKE_NVML_TIME")) && *v) {
        time_frozen = 1;
        frozen_time = strtod(v, NULL);
    }
    if ((v = getenv("FAKE_NVML_SPEED")) && *v && strtod(v, NULL) > 0) speed = strtod(v, NULL);
    if ((v = getenv("FAKE_NVML_PID")) && *v) given_pid = (unsigned)strtoul(v, NULL, 10);
    real_start = real_now();
    FILE *f = fopen("/proc/sys/kernel/pid_max", "r");
    if (f) {
        unsigned long long pid_max;
        if (fscanf(f, "%llu", &pid_max) == 1) fake_pid_base = pid_max + 1;
        fclose(f);
    }
    for (unsigned i = 0; i < MAX_GPUS; i++) {
        struct nvmlDevice_st *d = &gpus[i];
        d->index = i;
        d->bus = i < 8 ? dgx_buses[i] : 0x10 + i;
        make_uuid(i, d->uuid, sizeof d->uuid);
        snprintf(d->serial, sizeof d->serial, "1563221%06u", 4100 + i);
        snprintf(d->bus_id, sizeof d->bus_id, "00000000:%02X:00.0", d->bus);
    }
    if ((v = getenv("FAKE_NVML_MIG")) && *v) setup_mig(v);
}

/* ---- the simulated readings ------------------------------------------------------------- */

static unsigned util_at(unsigned i, double t) {
    return (unsigned)lround(50.0 + 45.0 * sin(2.0 * M_PI * t / 60.0 + 0.9 * i));
}

static unsigned long long used_mib_at(unsigned i, double t) {
    return 28900ULL + 1500ULL * i +
           (unsigned long long)lround(15000.0 + 15000.0 * sin(2.0 * M_PI * t / 300.0 + 1.3 * i));
}

static unsigned long long mig_used_at(const struct nvmlDevice_st *m, double t) {
    double share = 0.3 + 0.25 * (1.0 + sin(2.0 * M_PI * t / 300.0 + 1.3 * m->index + 0.7 * m->slot));
    return (unsigned long long)lround((double)m->mig_total * share);
}

static unsigned long long parent_used_at(unsigned i, double t) {
    if (!gpus[i].mig_count) return used_mib_at(i, t);
    unsigned long long sum = 0;
    for (unsigned s = 0; s < gpus[i].mig_count; s++) sum += mig_used_at(&migs[i][s], t);
    return sum;
}

static unsigned mig_pid(const struct nvmlDevice_st *m) {
    return (unsigned)(fake_pid_base + 512ULL + 64ULL * m->index + 8ULL * m->slot);
}

static unsigned proc_pid(unsigned i, unsigned k) {
    if (k == 1) return given_pid ? given_pid : (unsigned)getpid();
    return (unsigned)(fake_pid_base + 8ULL * i + k);
}

static unsigned long long proc_mib(unsigned i, unsigned k, double t) {
    if (k > 0) return PROC_SMALL_MIB;
    return used_mib_at(i, t) - PROC_SMALL_MIB * (procs_per_gpu - 1);
}

/* ---- checks shared by every call ------------------------------------------------------------ */

static int initialized(void) {
    pthread_mutex_lock(&init_lock);
    int ok = init_count > 0;
    pthread_mutex_unlock(&init_lock);
    return ok;
}

static int is_lost(unsigned index) {
    return lost_gpu >= 0 && (unsigned)lost_gpu == index && mono_now() - init_mono >= lost_after;
}

static int is_mig_handle(nvmlDevice_t d) {
    return d >= &migs[0][0] && d < &migs[0][0] + MAX_GPUS * MAX_MIG && d->is_mig &&
           d->index < gpu_count && d->slot < gpus[d->index].mig_count;
}

static nvmlReturn_t check(nvmlDevice_t d) {
    if (!initialized()) return NVML_ERROR_UNINITIALIZED;
    if ((d < gpus || d >= gpus + gpu_count) && !is_mig_handle(d)) return NVML_ERROR_INVALID_ARGUMENT;
    if (is_lost(d->index)) return NVML_ERROR_GPU_IS_LOST;
    return NVML_SUCCESS;
}

#define CHECK(d)                                    \
    do {                                            \
        nvmlReturn_t r_ = check(d);                 \
        if (r_ != NVML_SUCCESS) return r_;          \
    } while (0)
#define SUPPORTED(bit)                                              \
    do {                                                            \
        if (not_supported & (bit)) return NVML_ERROR_NOT_SUPPORTED; \
    } while (0)
/* A reading NVML has only for the whole GPU, not per MIG device. */
#define NOT_ON_MIG(d)                                         \
    do {                                                      \
        if ((d)->is_mig) return NVML_ERROR_NOT_SUPPORTED;     \
    } while (0)
#define NONNULL(p)                                             \
    do {                                                       \
        if (!(p)) return NVML_ERROR_INVALID_ARGUMENT;          \
    } while (0)

static nvmlReturn_t copy_string(char *out, unsigned size, const char *value) {
    NONNULL(out);
    if (strlen(value) + 1 > size) return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(out, value, strlen(value) + 1);
    return NVML_SUCCESS;
}

/* ---- init and system ------------------------------------------------------------------------ */

nvmlReturn_t nvmlInitWithFlags(unsigned flags) {
    (void)flags;
    pthread_once(&setup_once, setup);
    if (no_driver) return NVML_ERROR_DRIVER_NOT_LOADED;
    pthread_mutex_lock(&init_lock);
    if (init_count++ == 0 && init_mono == 0.0) init_mono = mono_now();
    pthread_mutex_unlock(&init_lock);
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlInit_v2(void) { return nvmlInitWithFlags(0); }
nvmlReturn_t nvmlInit(void) { return nvmlInitWithFlags(0); }

nvmlReturn_t nvmlShutdown(void) {
    pthread_mutex_lock(&init_lock);
    nvmlReturn_t r = init_count > 0 ? NVML_SUCCESS : NVML_ERROR_UNINITIALIZED;
    if (init_count > 0) init_count--;
    pthread_mutex_unlock(&init_lock);
    return r;
}

const char *nvmlErrorString(nvmlReturn_t r) {
    switch (r) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    case NVML_ERROR_ARGUMENT_VERSION_MISMATCH: return "Argument version mismatch";
    default: return "Unknown Error";
    }
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned length) {
    if (!initialized()) return NVML_ERROR_UNINITIALIZED;
    return copy_string(version, length, "550.54.15");
}
nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned length) {
    if (!initialized()) return NVML_ERROR_UNINITIALIZED;
    return copy_string(version, length, "12.550.54.15");
}
nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *version) {
    NONNULL(version);
    *version = 12040;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *version) {
    return nvmlSystemGetCudaDriverVersion(version);
}

/* ---- device handles ------------------------------------------------------------------------- */

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned *count) {
    if (!initialized()) return NVML_ERROR_UNINITIALIZED;
    NONNULL(count);
    *count = gpu_count;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetCount(unsigned *count) { return nvmlDeviceGetCount_v2(count); }

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned index, nvmlDevice_t *device) {
    if (!initialized()) return NVML_ERROR_UNINITIALIZED;
    if (index >= gpu_count || !device) return NVML_ERROR_INVALID_ARGUMENT;
    if (is_lost(index)) return NVML_ERROR_GPU_IS_LOST;
    *device = &gpus[index];
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned index, nvmlDevice_t *device) {
    return nvmlDeviceGetHandleByIndex_v2(index, device);
}

nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device) {
    if (!initialized()) return NVML_ERROR_UNINITIALIZED;
    NONNULL(uuid);
    for (unsigned i = 0; i < gpu_count; i++)
        if (strcmp(gpus[i].uuid, uuid) == 0) return nvmlDeviceGetHandleByIndex_v2(i, device);
    return NVML_ERROR_NOT_FOUND;
}

nvmlReturn_t nvmlDeviceGetHandleByPciBusId_v2(const char *bus_id, nvmlDevice_t *device) {
    if (!initialized()) return NVML_ERROR_UNINITIALIZED;
    NONNULL(bus_id);
    for (unsigned i = 0; i < gpu_count; i++)
        if (strcasecmp(gpus[i].bus_id, bus_id) == 0) return nvmlDeviceGetHandleByIndex_v2(i, device);
    return NVML_ERROR_NOT_FOUND;
}

/* ---- static identity ------------------------------------------------------------------------ */

nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t d, unsigned *index) {
    CHECK(d);
    NONNULL(index);
    *index = d->index;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned length) {
    CHECK(d);
    if (d->is_mig) {
        char mig_name[64];
        snprintf(mig_name, sizeof mig_name, "NVIDIA A100-SXM4-80GB MIG %s", d->profile);
        return copy_string(name, length, mig_name);
    }
    return copy_string(name, length, "NVIDIA A100-SXM4-80GB");
}
nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned length) {
    CHECK(d);
    return copy_string(uuid, length, d->uuid);
}
nvmlReturn_t nvmlDeviceGetSerial(nvmlDevice_t d, char *serial, unsigned length) {
    CHECK(d);
    return copy_string(serial, length, d->serial);
}
nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t d, nvmlPciInfo_t *pci) {
    CHECK(d);
    NONNULL(pci);
    memset(pci, 0, sizeof *pci);
    snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "0000:%02X:00.0", d->bus);
    memcpy(pci->busId, d->bus_id, sizeof pci->busId);
    pci->bus = d->bus;
    pci->pciDeviceId = 0x20B210DE;
    pci->pciSubSystemId = 0x147F10DE;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t d, int *major, int *minor) {
    CHECK(d);
    NONNULL(major && minor);
    *major = 8;
    *minor = 0;
    return NVML_SUCCESS;
}

/* ---- memory, utilization, temperature -------------------------------------------------------- */

static void memory_of(nvmlDevice_t d, unsigned long long *total, unsigned long long *used) {
    double t = sim_now();
    *total = d->is_mig ? d->mig_total : TOTAL_MIB;
    *used = d->is_mig ? mig_used_at(d, t) : parent_used_at(d->index, t);
}
nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *memory) {
    CHECK(d);
    SUPPORTED(F_MEMORY);
    NONNULL(memory);
    unsigned long long total, used;
    memory_of(d, &total, &used);
    memory->total = total * MIB;
    memory->used = used * MIB;
    memory->free = (total - used) * MIB;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t d, nvmlMemory_v2_t *memory) {
    CHECK(d);
    SUPPORTED(F_MEMORY);
    NONNULL(memory);
    if (memory->version != MEMORY_V2) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    unsigned long long total, used;
    memory_of(d, &total, &used);
    memory->total = total * MIB;
    memory->reserved = 0;
    memory->used = used * MIB;
    memory->free = (total - used) * MIB;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetBAR1MemoryInfo(nvmlDevice_t d, nvmlBAR1Memory_t *bar1) {
    CHECK(d);
    NONNULL(bar1);
    bar1->bar1Total = 131072ULL * MIB;
    bar1->bar1Used = 5ULL * MIB;
    bar1->bar1Free = bar1->bar1Total - bar1->bar1Used;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *util) {
    CHECK(d);
    SUPPORTED(F_UTILIZATION);
    NOT_ON_MIG(d);
    if (gpus[d->index].mig_count) return NVML_ERROR_NOT_SUPPORTED; /* in MIG mode */
    NONNULL(util);
    util->gpu = util_at(d->index, sim_now());
    util->memory = util->gpu * 45 / 100;
    return NVML_SUCCESS;
}
static nvmlReturn_t codec_util(nvmlDevice_t d, unsigned *util, unsigned *period_us) {
    CHECK(d);
    NONNULL(util && period_us);
    *util = 0;
    *period_us = 167000;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetEncoderUtilization(nvmlDevice_t d, unsigned *u, unsigned *p) {
    return codec_util(d, u, p);
}
nvmlReturn_t nvmlDeviceGetDecoderUtilization(nvmlDevice_t d, unsigned *u, unsigned *p) {
    return codec_util(d, u, p);
}
static unsigned temperature_of(nvmlDevice_t d) {  /* a whole GPU */
    return 35 + util_at(d->index, sim_now()) * 35 / 100 + d->index;
}
nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t d, int sensor, unsigned *temp) {
    CHECK(d);
    SUPPORTED(F_TEMPERATURE);
    NOT_ON_MIG(d);
    NONNULL(temp);
    if (sensor != 0) return NVML_ERROR_INVALID_ARGUMENT;
    *temp = temperature_of(d);
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetTemperatureV(nvmlDevice_t d, nvmlTemperature_v1_t *temp) {
    CHECK(d);
    SUPPORTED(F_TEMPERATURE);
    NOT_ON_MIG(d);
    NONNULL(temp);
    if (temp->version != TEMPERATURE_V1) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    if (temp->sensorType != 0) return NVML_ERROR_INVALID_ARGUMENT;
    temp->temperature = (int)temperature_of(d);
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetPcieThroughput(nvmlDevice_t d, int counter, unsigned *kib_per_s) {
    CHECK(d);
    NONNULL(kib_per_s);
    *kib_per_s = (counter == 0 ? 900 : 300) + 40 * util_at(d->index, sim_now());
    return NVML_SUCCESS;
}

/* ---- power, clocks, fan --------------------------------------------------------------------- */

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned *milliwatts) {
    CHECK(d);
    SUPPORTED(F_POWER);
    NOT_ON_MIG(d);
    NONNULL(milliwatts);
    *milliwatts = 62000 + 3000 * util_at(d->index, sim_now()) + 1000 * d->index;
    return NVML_SUCCESS;
}
static nvmlReturn_t power_limit(nvmlDevice_t d, unsigned *milliwatts) {
    CHECK(d);
    SUPPORTED(F_POWER_LIMIT);
    NOT_ON_MIG(d);
    NONNULL(milliwatts);
    *milliwatts = 400000;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t d, unsigned *mw) {
    return power_limit(d, mw);
}
nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t d, unsigned *mw) {
    return power_limit(d, mw);
}
nvmlReturn_t nvmlDeviceGetPowerManagementDefaultLimit(nvmlDevice_t d, unsigned *mw) {
    return power_limit(d, mw);
}
static nvmlReturn_t clock_of(nvmlDevice_t d, int type, unsigned *mhz) {
    CHECK(d);
    SUPPORTED(F_CLOCKS);
    NOT_ON_MIG(d);
    NONNULL(mhz);
    switch (type) {
    case 0: /* graphics */
    case 1: *mhz = 1410; return NVML_SUCCESS; /* SM */
    case 2: *mhz = 1593; return NVML_SUCCESS; /* memory */
    case 3: *mhz = 1275; return NVML_SUCCESS; /* video */
    default: return NVML_ERROR_INVALID_ARGUMENT;
    }
}
nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t d, int type, unsigned *mhz) {
    return clock_of(d, type, mhz);
}
nvmlReturn_t nvmlDeviceGetMaxClockInfo(nvmlDevice_t d, int type, unsigned *mhz) {
    return clock_of(d, type, mhz);
}
nvmlReturn_t nvmlDeviceGetFanSpeed(nvmlDevice_t d, unsigned *percent) {
    CHECK(d);
    SUPPORTED(F_FAN);
    NOT_ON_MIG(d);
    NONNULL(percent);
    *percent = 30 + util_at(d->index, sim_now()) / 4;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetFanSpeed_v2(nvmlDevice_t d, unsigned fan, unsigned *percent) {
    if (fan != 0) return NVML_ERROR_INVALID_ARGUMENT;
    return nvmlDeviceGetFanSpeed(d, percent);
}
nvmlReturn_t nvmlDeviceGetNumFans(nvmlDevice_t d, unsigned *count) {
    CHECK(d);
    SUPPORTED(F_FAN);
    NONNULL(count);
    *count = 1;
    return NVML_SUCCESS;
}

/* ---- modes and states: a datacenter GPU, MIG off unless FAKE_NVML_MIG says so ------------- */

static nvmlReturn_t constant(nvmlDevice_t d, int *out, int value) {
    CHECK(d);
    NONNULL(out);
    *out = value;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetPerformanceState(nvmlDevice_t d, int *p) { return constant(d, p, 0); }
nvmlReturn_t nvmlDeviceGetPersistenceMode(nvmlDevice_t d, int *m) { return constant(d, m, 1); }
nvmlReturn_t nvmlDeviceGetDisplayMode(nvmlDevice_t d, int *m) { return constant(d, m, 0); }
nvmlReturn_t nvmlDeviceGetDisplayActive(nvmlDevice_t d, int *m) { return constant(d, m, 0); }
nvmlReturn_t nvmlDeviceGetComputeMode(nvmlDevice_t d, int *m) { return constant(d, m, 0); }
nvmlReturn_t nvmlDeviceIsMigDeviceHandle(nvmlDevice_t d, unsigned *m) {
    return constant(d, (int *)m, d->is_mig);
}
nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t d, unsigned *n) {
    CHECK(d);
    NONNULL(n);
    if (d->is_mig) return NVML_ERROR_INVALID_ARGUMENT;
    *n = MAX_MIG;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t d, unsigned *current, unsigned *pending) {
    CHECK(d);
    NONNULL(current && pending);
    if (d->is_mig) return NVML_ERROR_INVALID_ARGUMENT;
    *current = *pending = d->mig_count > 0;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t d, unsigned i, nvmlDevice_t *mig) {
    CHECK(d);
    NONNULL(mig);
    if (d->is_mig) return NVML_ERROR_INVALID_ARGUMENT;
    if (!d->mig_count) return NVML_ERROR_INVALID_ARGUMENT; /* MIG mode off */
    if (i >= d->mig_count) return NVML_ERROR_NOT_FOUND;
    *mig = &migs[d->index][i];
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetDeviceHandleFromMigDeviceHandle(nvmlDevice_t d, nvmlDevice_t *parent) {
    CHECK(d);
    NONNULL(parent);
    if (!d->is_mig) return NVML_ERROR_INVALID_ARGUMENT;
    *parent = &gpus[d->index];
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetGpuInstanceId(nvmlDevice_t d, unsigned *id) {
    CHECK(d);
    NONNULL(id);
    if (!d->is_mig) return NVML_ERROR_INVALID_ARGUMENT;
    *id = d->gi;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetComputeInstanceId(nvmlDevice_t d, unsigned *id) {
    CHECK(d);
    NONNULL(id);
    if (!d->is_mig) return NVML_ERROR_INVALID_ARGUMENT;
    *id = 0;
    return NVML_SUCCESS;
}
typedef struct {
    unsigned multiprocessorCount, sharedCopyEngineCount, sharedDecoderCount, sharedEncoderCount,
        sharedJpegCount, sharedOfaCount, gpuInstanceSliceCount, computeInstanceSliceCount;
    unsigned long long memorySizeMB;
} nvmlDeviceAttributes_t;
nvmlReturn_t nvmlDeviceGetAttributes_v2(nvmlDevice_t d, nvmlDeviceAttributes_t *a) {
    CHECK(d);
    NONNULL(a);
    unsigned slices = d->is_mig ? d->slices : 7;
    memset(a, 0, sizeof *a);
    a->multiprocessorCount = 14 * slices;
    a->gpuInstanceSliceCount = slices;
    a->computeInstanceSliceCount = slices;
    a->memorySizeMB = d->is_mig ? d->mig_total : TOTAL_MIB;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t d, int type, int counter,
                                         unsigned long long *count) {
    (void)type;
    (void)counter;
    CHECK(d);
    NONNULL(count);
    *count = 0;
    return NVML_SUCCESS;
}
/* Windows-only (driver model) and per-field queries: not on this part. */
nvmlReturn_t nvmlDeviceGetDriverModel_v2(nvmlDevice_t d, int *current, int *pending) {
    (void)current;
    (void)pending;
    CHECK(d);
    return NVML_ERROR_NOT_SUPPORTED;
}
nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t d, int count, void *values) {
    (void)count;
    (void)values;
    CHECK(d);
    return NVML_ERROR_NOT_SUPPORTED;
}

/* ---- processes ------------------------------------------------------------------------------ */

/* The two-call protocol: *count too small (or a NULL array) answers INSUFFICIENT_SIZE. */
static nvmlReturn_t list_mig_processes(nvmlDevice_t d, unsigned *count, void *out, size_t stride);
static nvmlReturn_t list_processes(nvmlDevice_t d, unsigned *count, void *out, size_t stride) {
    CHECK(d);
    SUPPORTED(F_PROCESSES);
    NONNULL(count);
    if (d->is_mig || gpus[d->index].mig_count) return list_mig_processes(d, count, out, stride);
    unsigned n = procs_per_gpu;
    if (n == 0) {
        *count = 0;
        return NVML_SUCCESS;
    }
    if (!out || *count < n) {
        *count = n;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    double t = sim_now();
    for (unsigned k = 0; k < n; k++) {
        nvmlProcessInfo_t info = {proc_pid(d->index, k), proc_mib(d->index, k, t) * MIB,
                                  0xFFFFFFFFu, 0xFFFFFFFFu};
        memcpy((char *)out + k * stride, &info,
               stride < sizeof info ? stride : sizeof info);
    }
    *count = n;
    return NVML_SUCCESS;
}

/* A MIG device: its one process; a GPU in MIG mode: every instance's, with their ids. */
static nvmlReturn_t list_mig_processes(nvmlDevice_t d, unsigned *count, void *out, size_t stride) {
    const struct nvmlDevice_st *first = d->is_mig ? d : &migs[d->index][0];
    unsigned n = d->is_mig ? 1 : gpus[d->index].mig_count;
    if (!out || *count < n) {
        *count = n;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    double t = sim_now();
    for (unsigned k = 0; k < n; k++) {
        const struct nvmlDevice_st *m = first + k;
        nvmlProcessInfo_t info = {mig_pid(m), (mig_used_at(m, t) - 256ULL) * MIB, m->gi, 0};
        memcpy((char *)out + k * stride, &info, stride < sizeof info ? stride : sizeof info);
    }
    *count = n;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t d, unsigned *n, void *p) {
    return list_processes(d, n, p, sizeof(nvmlProcessInfo_t));
}
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t d, unsigned *n, void *p) {
    return list_processes(d, n, p, sizeof(nvmlProcessInfo_t));
}
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t d, unsigned *n, void *p) {
    return list_processes(d, n, p, sizeof(nvmlProcessInfo_v1_t));
}
static nvmlReturn_t no_processes(nvmlDevice_t d, unsigned *count) {
    CHECK(d);
    NONNULL(count);
    *count = 0;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t d, unsigned *n, void *p) {
    (void)p;
    return no_processes(d, n);
}
nvmlReturn_t nvmlDeviceGetMPSComputeRunningProcesses_v3(nvmlDevice_t d, unsigned *n, void *p) {
    (void)p;
    return no_processes(d, n);
}
nvmlReturn_t nvmlDeviceGetProcessUtilization(nvmlDevice_t d, nvmlProcessUtilizationSample_t *s,
                                             unsigned *count, unsigned long long last_seen_us) {
    (void)last_seen_us;
    CHECK(d);
    SUPPORTED(F_PROCESSES);
    NOT_ON_MIG(d);
    NONNULL(count);
    unsigned n = procs_per_gpu;
    if (n == 0) return NVML_ERROR_NOT_FOUND;
    if (!s || *count < n) {
        *count = n;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    double t = sim_now();
    unsigned util = util_at(d->index, t);
    for (unsigned k = 0; k < n; k++) {
        s[k].pid = proc_pid(d->index, k);
        s[k].timeStamp = (unsigned long long)(t * 1e6);
        s[k].smUtil = k == 0 ? util : 0;
        s[k].memUtil = k == 0 ? util * 45 / 100 : 0;
        s[k].encUtil = s[k].decUtil = 0;
    }
    *count = n;
    return NVML_SUCCESS;
}
