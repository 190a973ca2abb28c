/* Optional accelerator for fsworker.esl.frames: a header index over a plain event block.

Rules:
- Pure function of the bytes given: no I/O, no global state, no Python callbacks.
- index_block() accepts exactly the blocks the pure-Python bytes split accepts as
  FreeSWITCH's shape (ASCII; every line "Name: value" with no other ':' or ' '; the
  block ends with its only blank line) and additionally declines, returning None,
  blocks with a Content-Length header: the pure-Python path handles those (and raises
  for malformed ones), so both paths give the same names and values. A repeated name
  keeps its last value, as in the pure-Python dict (get_all() is served by the split).
- The index keeps a reference to the block and stores offsets only: building it creates
  one object, not one per header line. Index.get(name) returns the raw (still
  URL-encoded) value as str, or None.
*/
#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE /* memmem */
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    uint32_t key_off;
    uint32_t key_len;
    uint32_t val_off;
    uint32_t val_len;
    uint64_t hash;
} Entry;

typedef struct {
    PyObject_HEAD
    PyObject *data;   /* the bytes object the offsets point into */
    uint32_t mask;    /* slots - 1 (slots is a power of two) */
    uint32_t *slots;  /* entry index + 1; 0 = empty */
    Entry *entries;
    Py_ssize_t count;
} Index;

/* Keys are compared in full on a hash match, so the hash only has to spread the names
   FreeSWITCH uses (long shared prefixes: "variable_sip_..."): length, first and last
   eight bytes, O(1) per key. */
static uint64_t
key_hash(const unsigned char *p, Py_ssize_t n)
{
    uint64_t a = 0, b = 0;
    if (n >= 8) {
        memcpy(&a, p, 8);
        memcpy(&b, p + n - 8, 8);
    }
    else {
        for (Py_ssize_t i = 0; i < n; i++) {
            a = (a << 8) | p[i];
        }
    }
    uint64_t h = (a ^ (b * 0x9E3779B97F4A7C15ULL) ^ (uint64_t)n) * 0xFF51AFD7ED558CCDULL;
    return h ^ (h >> 33);
}

static void
Index_dealloc(Index *self)
{
    Py_XDECREF(self->data);
    PyMem_Free(self->slots);
    PyMem_Free(self->entries);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
Index_get(Index *self, PyObject *name)
{
    Py_ssize_t n;
    const char *key;
    if (!PyUnicode_Check(name)) {
        PyErr_SetString(PyExc_TypeError, "header name must be str");
        return NULL;
    }
    key = PyUnicode_AsUTF8AndSize(name, &n);
    if (key == NULL) {
        /* A lone surrogate: no header name of an ASCII block can equal it. */
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    uint64_t h = key_hash((const unsigned char *)key, n);
    const char *base = PyBytes_AS_STRING(self->data);
    for (uint32_t i = (uint32_t)h & self->mask;; i = (i + 1) & self->mask) {
        uint32_t slot = self->slots[i];
        if (slot == 0) {
            Py_RETURN_NONE;
        }
        Entry *e = &self->entries[slot - 1];
        if (e->hash == h && e->key_len == (uint32_t)n && memcmp(base + e->key_off, key, n) == 0) {
            /* ASCII was checked when the index was built. */
            PyObject *value = PyUnicode_New(e->val_len, 127);
            if (value == NULL) {
                return NULL;
            }
            memcpy(PyUnicode_1BYTE_DATA(value), base + e->val_off, e->val_len);
            return value;
        }
    }
}

static Py_ssize_t
Index_len(Index *self)
{
    return self->count;
}

static PyMethodDef Index_methods[] = {
    {"get", (PyCFunction)Index_get, METH_O, "get(name) -> the raw value as str, or None"},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods Index_as_sequence = {
    .sq_length = (lenfunc)Index_len,
};

static PyTypeObject IndexType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "fsworker.esl._speedups.Index",
    .tp_basicsize = sizeof(Index),
    .tp_dealloc = (destructor)Index_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Header name -> raw value offsets over one plain event block.",
    .tp_methods = Index_methods,
    .tp_as_sequence = &Index_as_sequence,
};


/* Bit i set: byte i of the 16 at p is ':', ' ', '\n' or not ASCII (the only bytes the
   shape check has to look at; a block has ~3 of them per ~40-byte line). */
#if defined(__SSE2__)
#include <emmintrin.h>
static inline uint32_t
special16(const unsigned char *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    __m128i m = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(':')), _mm_cmpeq_epi8(v, _mm_set1_epi8(' '))),
        _mm_cmpeq_epi8(v, _mm_set1_epi8('\n')));
    return (uint32_t)_mm_movemask_epi8(_mm_or_si128(m, v));  /* v: the high bit = not ASCII */
}
#else
static inline uint32_t
special16(const unsigned char *p)
{
    uint32_t bits = 0;
    for (int i = 0; i < 16; i++) {
        unsigned char c = p[i];
        if (c == ':' || c == ' ' || c == '\n' || c >= 0x80) {
            bits |= 1u << i;
        }
    }
    return bits;
}
#endif

typedef struct {
    Entry *entries;
    Py_ssize_t count;
    Py_ssize_t cap;
    Py_ssize_t line;    /* start of the current line */
    Py_ssize_t colon;   /* its ": ", or -1 while in the name */
    Py_ssize_t skip;    /* the ' ' of ": " is not looked at again */
} Scan;

/* One special byte at i. Returns 0 to go on, 1 to decline, -1 on MemoryError. */
static inline int
scan_byte(Scan *s, const unsigned char *p, Py_ssize_t i, Py_ssize_t last)
{
    unsigned char c = p[i];
    if (i < s->skip) {
        return 0;
    }
    if (c >= 0x80) {
        return 1;
    }
    if (s->colon < 0) {
        if (c != ':' || i + 1 >= last || p[i + 1] != ' ') {
            return 1;  /* a line without ": ", a space in a name, a blank line */
        }
        s->colon = i;
        s->skip = i + 2;
        return 0;
    }
    if (c != '\n') {
        return 1;  /* a second ':' or ' ' on the line */
    }
    if (s->count == s->cap) {
        Py_ssize_t cap = s->cap * 2;
        Entry *grown = PyMem_Realloc(s->entries, sizeof(Entry) * (size_t)cap);
        if (grown == NULL) {
            return -1;
        }
        s->entries = grown;
        s->cap = cap;
    }
    Entry *e = &s->entries[s->count++];
    e->key_off = (uint32_t)s->line;
    e->key_len = (uint32_t)(s->colon - s->line);
    e->val_off = (uint32_t)(s->colon + 2);
    e->val_len = (uint32_t)(i - s->colon - 2);
    s->line = i + 1;
    s->colon = -1;
    return 0;
}

static const char CONTENT_LENGTH[] = "Content-Length";

static PyObject *
index_block(PyObject *module, PyObject *arg)
{
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "index_block() takes bytes");
        return NULL;
    }
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(arg);
    Py_ssize_t n = PyBytes_GET_SIZE(arg);
    /* Offsets are 32-bit; the parser's body cap is far below this. */
    if (n < 2 || n > (Py_ssize_t)UINT32_MAX || p[n - 1] != '\n' || p[n - 2] != '\n') {
        Py_RETURN_NONE;
    }
    Py_ssize_t last = n - 1; /* the final '\n': the blank line; never scanned */
    Scan s = {.entries = NULL, .count = 0, .cap = n / 32 + 8, .line = 0, .colon = -1, .skip = 0};
    uint32_t *slots = NULL;
    s.entries = PyMem_Malloc(sizeof(Entry) * (size_t)s.cap);
    if (s.entries == NULL) {
        return PyErr_NoMemory();
    }
    Py_ssize_t i = 0;
    int rc = 0;
    for (; i + 16 <= last && rc == 0; i += 16) {
        uint32_t bits = special16(p + i);
        while (bits && rc == 0) {
            int b = __builtin_ctz(bits);
            bits &= bits - 1;
            rc = scan_byte(&s, p, i + b, last);
        }
    }
    for (; i < last && rc == 0; i++) {
        unsigned char c = p[i];
        if (c == ':' || c == ' ' || c == '\n' || c >= 0x80) {
            rc = scan_byte(&s, p, i, last);
        }
    }
    if (rc < 0) {
        PyMem_Free(s.entries);
        return PyErr_NoMemory();
    }
    /* Every line ended, and there was one. */
    if (rc > 0 || s.colon >= 0 || s.line != last || s.count == 0) {
        goto decline;
    }
    uint32_t slots_n = 8;
    while (slots_n < (uint32_t)s.count * 2) {
        slots_n <<= 1;
    }
    slots = PyMem_Calloc(slots_n, sizeof(uint32_t));
    if (slots == NULL) {
        PyMem_Free(s.entries);
        return PyErr_NoMemory();
    }
    uint32_t mask = slots_n - 1;
    for (Py_ssize_t k = 0; k < s.count; k++) {
        Entry *e = &s.entries[k];
        if (e->key_len == sizeof(CONTENT_LENGTH) - 1 &&
            memcmp(p + e->key_off, CONTENT_LENGTH, sizeof(CONTENT_LENGTH) - 1) == 0) {
            goto decline;
        }
        e->hash = key_hash(p + e->key_off, e->key_len);
        uint32_t j = (uint32_t)e->hash & mask;
        while (slots[j] != 0) {
            Entry *o = &s.entries[slots[j] - 1];
            if (o->hash == e->hash && o->key_len == e->key_len &&
                memcmp(p + o->key_off, p + e->key_off, e->key_len) == 0) {
                break; /* a repeated name: the later line takes the slot */
            }
            j = (j + 1) & mask;
        }
        slots[j] = (uint32_t)(k + 1);
    }
    Index *index = PyObject_New(Index, &IndexType);
    if (index == NULL) {
        PyMem_Free(s.entries);
        PyMem_Free(slots);
        return NULL;
    }
    Py_INCREF(arg);
    index->data = arg;
    index->mask = mask;
    index->slots = slots;
    index->entries = s.entries;
    index->count = s.count;
    return (PyObject *)index;

decline:
    PyMem_Free(s.entries);
    PyMem_Free(slots);
    Py_RETURN_NONE;
}

static const char NAME_LINE[] = "\nEvent-Name: ";
/* Any later line starting "Event-Name:" (the general split takes "Name:value" too). */
static const char NAME_AGAIN[] = "\nEvent-Name:";

/* event_name_end(block) -> the offset of the '\n' ending a first line "Event-Name: ..."
   whose value holds no ':' when no later line starts "Event-Name:", else -1 (the
   caller then splits); frames.Event.name says why. */
static PyObject *
event_name_end(PyObject *module, PyObject *arg)
{
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "event_name_end() takes bytes");
        return NULL;
    }
    const char *p = PyBytes_AS_STRING(arg);
    Py_ssize_t n = PyBytes_GET_SIZE(arg);
    const Py_ssize_t prefix = sizeof(NAME_LINE) - 2; /* "Event-Name: " */
    if (n < prefix || memcmp(p, NAME_LINE + 1, prefix) != 0) {
        return PyLong_FromLong(-1);
    }
    const char *nl = memchr(p + prefix, '\n', n - prefix);
    if (nl == NULL || memchr(p + prefix, ':', nl - p - prefix) != NULL ||
        memmem(nl, n - (nl - p), NAME_AGAIN, sizeof(NAME_AGAIN) - 1) != NULL) {
        return PyLong_FromLong(-1);
    }
    return PyLong_FromSsize_t(nl - p);
}

static PyMethodDef module_methods[] = {
    {"event_name_end", event_name_end, METH_O,
     "event_name_end(block: bytes) -> int (-1: no unique first Event-Name line)"},
    {"index_block", index_block, METH_O,
     "index_block(block: bytes) -> Index | None (None: take the pure-Python split)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "fsworker.esl._speedups",
    .m_doc = "Optional C accelerator for plain ESL event blocks (see _speedups.c).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    if (PyType_Ready(&IndexType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL) {
        return NULL;
    }
    Py_INCREF(&IndexType);
    if (PyModule_AddObject(m, "Index", (PyObject *)&IndexType) < 0) {
        Py_DECREF(&IndexType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
