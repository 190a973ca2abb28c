/* Optional accelerator for fsworker.esl.proto: a header index over a plain event block,
   the Event-Name of its first line, and the framing of an ordinary event frame.

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
- frame_event() builds the Frame (and a plain event's Event) exactly as the
  pure-Python parser does, and only for the one frame shape it matches whole;
  every other case is declined, so errors are always raised by Python.
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

/* The offset of the '\n' ending a first line "Event-Name: ..." whose value holds no ':'
   when no later line starts "Event-Name:", else -1 (the caller then splits);
   frames.Event.name says why. */
static Py_ssize_t
name_end(const char *p, Py_ssize_t n)
{
    const Py_ssize_t prefix = sizeof(NAME_LINE) - 2; /* "Event-Name: " */
    if (n < prefix || memcmp(p, NAME_LINE + 1, prefix) != 0) {
        return -1;
    }
    const char *nl = memchr(p + prefix, '\n', n - prefix);
    if (nl == NULL || memchr(p + prefix, ':', nl - p - prefix) != NULL ||
        memmem(nl, n - (nl - p), NAME_AGAIN, sizeof(NAME_AGAIN) - 1) != NULL) {
        return -1;
    }
    return nl - p;
}

/* -- Framing: the frame shape of nearly every message in a busy stream ---------------

frame_event(buf, pos, consumed, max_header, max_body, count_from) takes the frame at
buf[pos:] when it is exactly

    Content-Length: <1-12 digits>\nContent-Type: text/event-(plain|json|xml)\n\n<body>

with the whole body buffered, the head within max_header, the length within max_body
and not above count_from (the header count check is the parser's). It returns
(frame, end): the Frame built as parser._event_frame builds it (its headers dict, a copy
of the body, its stream offset consumed + pos), with a plain event's Event already
attached, and the offset of the next frame. Anything else returns None and the
pure-Python parser decides (and raises where it must), so both paths make the same
frames. The classes and their slot descriptors are handed over once by
register_frame_types(); until then frame_event() returns None. */

static PyTypeObject *frame_type = NULL;
static PyTypeObject *event_type = NULL;
enum { F_HEADERS, F_BODY, F_OFFSET, F_EVENT, F_COUNT };
static const char *const frame_slots[F_COUNT] = {"headers", "body", "offset", "_event"};
enum { E_CONTENT_TYPE, E_BODY, E_DATA, E_RAW, E_BRAW, E_INDEX, E_PAIRS, E_CACHE, E_ENCODED, E_COUNT };
static const char *const event_slots[E_COUNT] = {
    "content_type", "_body", "_data", "_raw", "_braw", "_index", "_pairs", "_cache", "_encoded"};
static PyObject *frame_descr[F_COUNT];
static PyObject *event_descr[E_COUNT];
static PyObject *ct_str[3];    /* the parser's own str objects for the three types */
static PyObject *key_length;   /* "Content-Length" */
static PyObject *key_type;     /* "Content-Type" */
static PyObject *empty_bytes;

static const char HEAD_LENGTH[] = "Content-Length: ";
static const char HEAD_TYPE[] = "Content-Type: text/event-";
static const char *const ct_tail[3] = {"plain\n\n", "json\n\n", "xml\n\n"};
static const Py_ssize_t ct_tail_len[3] = {7, 6, 5};

static int
take_descriptors(PyTypeObject *type, const char *const *names, int count, PyObject **out)
{
    for (int i = 0; i < count; i++) {
        PyObject *d = PyObject_GetAttrString((PyObject *)type, names[i]);
        if (d == NULL) {
            return -1;
        }
        if (Py_TYPE(d)->tp_descr_set == NULL) {
            PyErr_Format(PyExc_TypeError, "%s.%s is not a slot", type->tp_name, names[i]);
            Py_DECREF(d);
            return -1;
        }
        Py_XSETREF(out[i], d);
    }
    return 0;
}

static PyObject *
register_frame_types(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 || !PyType_Check(args[0]) || !PyType_Check(args[1]) || !PyUnicode_Check(args[2]) ||
        !PyUnicode_Check(args[3]) || !PyUnicode_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError,
                        "register_frame_types(Frame, Event, plain: str, json: str, xml: str)");
        return NULL;
    }
    if (take_descriptors((PyTypeObject *)args[0], frame_slots, F_COUNT, frame_descr) < 0 ||
        take_descriptors((PyTypeObject *)args[1], event_slots, E_COUNT, event_descr) < 0) {
        return NULL;
    }
    if (key_length == NULL) {
        key_length = PyUnicode_InternFromString("Content-Length");
        key_type = PyUnicode_InternFromString("Content-Type");
        empty_bytes = PyBytes_FromStringAndSize(NULL, 0);
        if (key_length == NULL || key_type == NULL || empty_bytes == NULL) {
            return NULL;
        }
    }
    for (int i = 0; i < 3; i++) {
        Py_INCREF(args[2 + i]);
        Py_XSETREF(ct_str[i], args[2 + i]);
    }
    Py_INCREF(args[0]);
    Py_XSETREF(frame_type, (PyTypeObject *)args[0]);
    Py_INCREF(args[1]);
    Py_XSETREF(event_type, (PyTypeObject *)args[1]);
    Py_RETURN_NONE;
}

static inline int
set_slot(PyObject *descr, PyObject *obj, PyObject *value)
{
    return Py_TYPE(descr)->tp_descr_set(descr, obj, value);
}

static PyObject *
frame_event(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6 || !PyByteArray_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError,
                        "frame_event(buf: bytearray, pos, consumed, max_header, max_body, count_from)");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    Py_ssize_t max_header = PyLong_AsSsize_t(args[3]);
    Py_ssize_t max_body = PyLong_AsSsize_t(args[4]);
    Py_ssize_t count_from = PyLong_AsSsize_t(args[5]);
    if ((pos == -1 || max_header == -1 || max_body == -1 || count_from == -1) && PyErr_Occurred()) {
        return NULL;
    }
    if (frame_type == NULL) {
        Py_RETURN_NONE;
    }
    const char *buf = PyByteArray_AS_STRING(args[0]);
    Py_ssize_t n = PyByteArray_GET_SIZE(args[0]);
    if (pos < 0 || pos > n) {
        Py_RETURN_NONE;
    }
    const char *p = buf + pos;
    const char *stop = buf + n;
    const Py_ssize_t len_prefix = sizeof(HEAD_LENGTH) - 1;
    if (stop - p < len_prefix || memcmp(p, HEAD_LENGTH, len_prefix) != 0) {
        Py_RETURN_NONE;
    }
    const char *digits = p + len_prefix;
    const char *d = digits;
    long long length = 0;
    while (d < stop && d - digits < 13 && *d >= '0' && *d <= '9') {
        length = length * 10 + (*d - '0');
        d++;
    }
    Py_ssize_t ndigits = d - digits;
    if (ndigits < 1 || ndigits > 12 || d >= stop || *d != '\n') {
        Py_RETURN_NONE;
    }
    d++;
    const Py_ssize_t type_prefix = sizeof(HEAD_TYPE) - 1;
    if (stop - d < type_prefix || memcmp(d, HEAD_TYPE, type_prefix) != 0) {
        Py_RETURN_NONE;
    }
    d += type_prefix;
    int ct = -1;
    for (int i = 0; i < 3; i++) {
        Py_ssize_t tl = ct_tail_len[i];
        if (stop - d >= tl && memcmp(d, ct_tail[i], tl) == 0) {
            ct = i;
            d += tl;
            break;
        }
    }
    if (ct < 0) {
        Py_RETURN_NONE;
    }
    Py_ssize_t start = d - buf;
    /* The head without its blank line, as the parser measures a header block. */
    if (start - pos - 2 > max_header || length > max_body || length > count_from ||
        n - start < (Py_ssize_t)length) {
        Py_RETURN_NONE;
    }
    /* Everything read from the buffer is copied before any other allocation. */
    char cl[13];
    memcpy(cl, digits, ndigits);
    PyObject *body = PyBytes_FromStringAndSize(buf + start, (Py_ssize_t)length);
    if (body == NULL) {
        return NULL;
    }
    Py_ssize_t end = start + (Py_ssize_t)length;
    PyObject *frame = NULL, *event = NULL, *headers = NULL, *cl_str = NULL, *offset = NULL;
    PyObject *result = NULL;
    Py_ssize_t consumed = PyLong_AsSsize_t(args[2]);
    if (consumed == -1 && PyErr_Occurred()) {
        goto done;
    }
    cl_str = PyUnicode_FromStringAndSize(cl, ndigits);
    offset = PyLong_FromSsize_t(consumed + pos);
    headers = PyDict_New();
    if (cl_str == NULL || offset == NULL || headers == NULL ||
        PyDict_SetItem(headers, key_length, cl_str) < 0 || PyDict_SetItem(headers, key_type, ct_str[ct]) < 0) {
        goto done;
    }
    if (ct == 0) {
        event = event_type->tp_alloc(event_type, 0);
        if (event == NULL || set_slot(event_descr[E_CONTENT_TYPE], event, ct_str[0]) < 0 ||
            set_slot(event_descr[E_BODY], event, empty_bytes) < 0 ||
            set_slot(event_descr[E_DATA], event, body) < 0 ||
            set_slot(event_descr[E_RAW], event, Py_None) < 0 ||
            set_slot(event_descr[E_BRAW], event, Py_None) < 0 ||
            set_slot(event_descr[E_INDEX], event, Py_None) < 0 ||
            set_slot(event_descr[E_PAIRS], event, Py_None) < 0 ||
            set_slot(event_descr[E_CACHE], event, Py_None) < 0 ||
            set_slot(event_descr[E_ENCODED], event, Py_True) < 0) {
            goto done;
        }
    }
    frame = frame_type->tp_alloc(frame_type, 0);
    if (frame == NULL || set_slot(frame_descr[F_HEADERS], frame, headers) < 0 ||
        set_slot(frame_descr[F_BODY], frame, body) < 0 || set_slot(frame_descr[F_OFFSET], frame, offset) < 0 ||
        set_slot(frame_descr[F_EVENT], frame, event != NULL ? event : Py_None) < 0) {
        goto done;
    }
    result = Py_BuildValue("(On)", frame, end);
done:
    Py_XDECREF(frame);
    Py_XDECREF(event);
    Py_XDECREF(headers);
    Py_XDECREF(cl_str);
    Py_XDECREF(offset);
    Py_DECREF(body);
    return result;
}

/* event_name(block) -> the first line's Event-Name value as str (UTF-8, errors
   replaced), still URL-encoded, when name_end() finds it; else None. */
static PyObject *
event_name(PyObject *module, PyObject *arg)
{
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "event_name() takes bytes");
        return NULL;
    }
    const char *p = PyBytes_AS_STRING(arg);
    Py_ssize_t end = name_end(p, PyBytes_GET_SIZE(arg));
    if (end < 0) {
        Py_RETURN_NONE;
    }
    const Py_ssize_t prefix = sizeof(NAME_LINE) - 2;
    return PyUnicode_DecodeUTF8(p + prefix, end - prefix, "replace");
}

static PyMethodDef module_methods[] = {
    {"event_name", event_name, METH_O,
     "event_name(block: bytes) -> str | None (the first line's raw Event-Name value)"},
    {"frame_event", (PyCFunction)(void (*)(void))frame_event, METH_FASTCALL,
     "frame_event(buf, pos, consumed, max_header, max_body, count_from) -> (Frame, end) | None"},
    {"register_frame_types", (PyCFunction)(void (*)(void))register_frame_types, METH_FASTCALL,
     "register_frame_types(Frame, Event, plain, json, xml): the classes frame_event() builds"},
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
