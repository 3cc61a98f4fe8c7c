/* AES-128-CCM with 13-byte nonces (COSE AES-CCM-16-64-128 and AES-CCM-16-128-128) for the record hot path.
 *
 * The same interface and results as cryptography's AESCCM (encrypt(nonce, data, aad) -> ciphertext || tag;
 * decrypt(...) -> plaintext or cryptography.exceptions.InvalidTag), proved equal to it by
 * tests/secure/test_native_aead.py. What differs is the cost: the OpenSSL context is set up with the key once,
 * at the first use, and only the nonce is set per record (cryptography builds a new context and key schedule per
 * call, about three times the work for a 64-byte frame). secure.records.oscore falls back to cryptography's
 * AESCCM when this module was not built (no compiler or no OpenSSL headers) or ECHONET_PURE_PYTHON is set.
 *
 * Every call holds the GIL from start to end, so one object's contexts are never used by two threads at once.
 * The key lives only in OpenSSL's contexts, which EVP_CIPHER_CTX_free cleanses; the object cannot be pickled or
 * copied (it has no state Python can see).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define NONCE_LEN 13
#define MAX_LEN 65535 /* CCM with a 13-byte nonce: a 2-byte length field */

static PyObject *InvalidTag;

#define MAX_PIV_LEN 5
#define MAX_TABLE_ITEM 1024 /* bytes in one entry of bind()'s tables (an AAD prefix is a few dozen) */

typedef struct {
    PyObject_HEAD
    unsigned char key[16];
    int tag_len;
    EVP_CIPHER_CTX *ctx[2]; /* [0] decrypts, [1] encrypts; each made at its first use */
    /* bind()'s tables for seal() and open(), per partial IV length n (index 0 unused) */
    int bound;
    unsigned char nonce_base[NONCE_LEN];
    Py_ssize_t max_ciphertext;
    PyObject *prefixes; /* the AAD before the partial IV */
    PyObject *headers;  /* seal: the record's 3 header bytes */
    PyObject *suffixes; /* seal: the AAD after the partial IV */
    PyObject *kid_field;
} Ccm;

static void Ccm_dealloc(Ccm *self)
{
    for (int i = 0; i < 2; i++)
        if (self->ctx[i] != NULL)
            EVP_CIPHER_CTX_free(self->ctx[i]);
    OPENSSL_cleanse(self->key, sizeof self->key);
    OPENSSL_cleanse(self->nonce_base, sizeof self->nonce_base);
    Py_XDECREF(self->prefixes);
    Py_XDECREF(self->headers);
    Py_XDECREF(self->suffixes);
    Py_XDECREF(self->kid_field);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Ccm_init(Ccm *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"key", "tag_length", NULL};
    Py_buffer key;
    int tag_len;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*i", kwlist, &key, &tag_len))
        return -1;
    if (key.len != 16 || (tag_len != 8 && tag_len != 16)) {
        PyBuffer_Release(&key);
        PyErr_SetString(PyExc_ValueError, "AesCcm takes a 16-byte key and a tag of 8 or 16 bytes");
        return -1;
    }
    if (self->ctx[0] != NULL || self->ctx[1] != NULL) {
        PyBuffer_Release(&key);
        PyErr_SetString(PyExc_TypeError, "AesCcm is initialised once");
        return -1;
    }
    memcpy(self->key, key.buf, 16);
    PyBuffer_Release(&key);
    self->tag_len = tag_len;
    return 0;
}

/* The context of one direction, keyed at its first use; NULL with an exception set if OpenSSL refuses. */
static EVP_CIPHER_CTX *context(Ccm *self, int enc)
{
    EVP_CIPHER_CTX *c = self->ctx[enc];
    if (c != NULL)
        return c;
    if (self->tag_len == 0) {
        PyErr_SetString(PyExc_TypeError, "AesCcm was not initialised");
        return NULL;
    }
    c = EVP_CIPHER_CTX_new();
    if (c == NULL
        || EVP_CipherInit_ex(c, EVP_aes_128_ccm(), NULL, NULL, NULL, enc) != 1
        || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, NONCE_LEN, NULL) != 1
        || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, self->tag_len, NULL) != 1
        || EVP_CipherInit_ex(c, NULL, NULL, self->key, NULL, enc) != 1) {
        EVP_CIPHER_CTX_free(c);
        PyErr_SetString(PyExc_RuntimeError, "OpenSSL refused AES-128-CCM");
        return NULL;
    }
    self->ctx[enc] = c;
    return c;
}

/* Encrypt n bytes of data into out (n bytes, then the tag); 0 with an exception set on failure. */
static int encrypt_into(Ccm *self, const unsigned char *nonce, const unsigned char *aad, Py_ssize_t a,
                        const unsigned char *data, Py_ssize_t n, unsigned char *out)
{
    EVP_CIPHER_CTX *c = context(self, 1);
    if (c == NULL)
        return 0;
    int len;
    int ok = EVP_EncryptInit_ex(c, NULL, NULL, NULL, nonce) == 1
             && EVP_EncryptUpdate(c, NULL, &len, NULL, (int)n) == 1 /* the length first (CCM) */
             && (a == 0 || EVP_EncryptUpdate(c, NULL, &len, aad, (int)a) == 1)
             && EVP_EncryptUpdate(c, out, &len, data, (int)n) == 1
             && EVP_EncryptFinal_ex(c, out + n, &len) == 1
             && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, self->tag_len, out + n) == 1;
    if (!ok)
        PyErr_SetString(PyExc_RuntimeError, "OpenSSL failed to encrypt");
    return ok;
}

/* The plaintext of n bytes of ciphertext followed by the tag, or NULL with InvalidTag (or another error) set. */
static PyObject *decrypt_new(Ccm *self, const unsigned char *nonce, const unsigned char *aad, Py_ssize_t a,
                             const unsigned char *data, Py_ssize_t n)
{
    EVP_CIPHER_CTX *c = context(self, 0);
    if (c == NULL)
        return NULL;
    PyObject *out = PyBytes_FromStringAndSize(NULL, n);
    if (out == NULL)
        return NULL;
    unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out);
    unsigned char empty[1];
    int len;
    int ok = EVP_DecryptInit_ex(c, NULL, NULL, NULL, nonce) == 1
             && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, self->tag_len, (void *)(data + n)) == 1
             && EVP_DecryptUpdate(c, NULL, &len, NULL, (int)n) == 1
             && (a == 0 || EVP_DecryptUpdate(c, NULL, &len, aad, (int)a) == 1)
             /* verifies the tag; OpenSSL clears the output when it does not */
             && EVP_DecryptUpdate(c, n ? o : empty, &len, n ? data : empty, (int)n) == 1;
    if (!ok) {
        Py_DECREF(out);
        PyErr_SetNone(InvalidTag);
        return NULL;
    }
    return out;
}

typedef PyObject *(*Method)(Ccm *, PyObject *const *, Py_ssize_t);

/* A call with other bytes-like arguments (bytearray, memoryview): the same call on bytes copies of them. */
static PyObject *on_bytes(Ccm *self, PyObject *const *args, Method method, const char *name)
{
    PyObject *copies[3] = {NULL, NULL, NULL};
    PyObject *result = NULL;
    for (int i = 0; i < 3; i++) {
        if (!PyObject_CheckBuffer(args[i])) {
            PyErr_Format(PyExc_TypeError, "%s(nonce, data, associated_data) takes bytes-like objects", name);
            goto done;
        }
        copies[i] = PyBytes_FromObject(args[i]);
        if (copies[i] == NULL)
            goto done;
    }
    result = method(self, copies, 3);
done:
    for (int i = 0; i < 3; i++)
        Py_XDECREF(copies[i]);
    return result;
}

/* 1: the three arguments are bytes, the nonce 13 bytes, the AAD at most MAX_LEN; 0: an error is set; -1: call
 * on_bytes (other bytes-like objects). */
static int arguments(PyObject *const *args, Py_ssize_t nargs, const char *name)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "%s(nonce, data, associated_data) takes three arguments", name);
        return 0;
    }
    if (!PyBytes_CheckExact(args[0]) || !PyBytes_CheckExact(args[1]) || !PyBytes_CheckExact(args[2]))
        return -1;
    if (PyBytes_GET_SIZE(args[0]) != NONCE_LEN || PyBytes_GET_SIZE(args[2]) > MAX_LEN) {
        PyErr_SetString(PyExc_ValueError, "the nonce must be 13 bytes and the associated data at most 65535");
        return 0;
    }
    return 1;
}

static PyObject *Ccm_encrypt(Ccm *self, PyObject *const *args, Py_ssize_t nargs)
{
    int checked = arguments(args, nargs, "encrypt");
    if (checked <= 0)
        return checked ? on_bytes(self, args, Ccm_encrypt, "encrypt") : NULL;
    const unsigned char *nonce = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(args[1]);
    const unsigned char *aad = (const unsigned char *)PyBytes_AS_STRING(args[2]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[1]), a = PyBytes_GET_SIZE(args[2]);
    if (n > MAX_LEN) {
        PyErr_SetString(PyExc_ValueError, "data longer than 65535 bytes");
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, n + self->tag_len);
    if (out == NULL)
        return NULL;
    if (!encrypt_into(self, nonce, aad, a, data, n, (unsigned char *)PyBytes_AS_STRING(out))) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

static PyObject *Ccm_decrypt(Ccm *self, PyObject *const *args, Py_ssize_t nargs)
{
    int checked = arguments(args, nargs, "decrypt");
    if (checked <= 0)
        return checked ? on_bytes(self, args, Ccm_decrypt, "decrypt") : NULL;
    const unsigned char *nonce = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(args[1]);
    const unsigned char *aad = (const unsigned char *)PyBytes_AS_STRING(args[2]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[1]) - self->tag_len, a = PyBytes_GET_SIZE(args[2]);
    if (n < 0) { /* shorter than the tag: it cannot verify (as cryptography says) */
        PyErr_SetNone(InvalidTag);
        return NULL;
    }
    if (n > MAX_LEN) {
        PyErr_SetString(PyExc_ValueError, "data longer than 65535 bytes");
        return NULL;
    }
    return decrypt_new(self, nonce, aad, a, data, n);
}

/* ---------------------------------------------------------------------------------------------- records */

static int table(PyObject *value, const char *name, PyObject **slot)
{
    if (!PyTuple_CheckExact(value) || PyTuple_GET_SIZE(value) != MAX_PIV_LEN + 1) {
        PyErr_Format(PyExc_TypeError, "bind(): %s must be a tuple of %d bytes objects", name, MAX_PIV_LEN + 1);
        return 0;
    }
    for (Py_ssize_t i = 0; i <= MAX_PIV_LEN; i++) {
        PyObject *item = PyTuple_GET_ITEM(value, i);
        if (!PyBytes_CheckExact(item) || PyBytes_GET_SIZE(item) > MAX_TABLE_ITEM) {
            PyErr_Format(PyExc_TypeError, "bind(): %s must hold bytes of at most %d", name, MAX_TABLE_ITEM);
            return 0;
        }
    }
    Py_INCREF(value);
    Py_XSETREF(*slot, value);
    return 1;
}

static PyObject *Ccm_bind(Ccm *self, PyObject *args)
{
    Py_buffer base;
    PyObject *prefixes, *headers, *suffixes, *kid_field;
    Py_ssize_t max_ciphertext;
    if (self->bound) { /* (another nonce base under the same key could repeat a nonce) */
        PyErr_SetString(PyExc_TypeError, "bind() is called once");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "y*OOOSn:bind", &base, &prefixes, &headers, &suffixes, &kid_field, &max_ciphertext))
        return NULL;
    if (PyBytes_GET_SIZE(kid_field) > MAX_TABLE_ITEM) {
        PyBuffer_Release(&base);
        PyErr_SetString(PyExc_ValueError, "bind(): a kid field of at most 1024 bytes");
        return NULL;
    }
    int ok = base.len == NONCE_LEN;
    if (ok)
        memcpy(self->nonce_base, base.buf, NONCE_LEN);
    PyBuffer_Release(&base);
    if (!ok || max_ciphertext < self->tag_len || max_ciphertext > MAX_LEN + self->tag_len) {
        PyErr_SetString(PyExc_ValueError, "bind(): a 13-byte nonce base and a ciphertext limit within CCM's");
        return NULL;
    }
    if (!table(prefixes, "prefixes", &self->prefixes) || !table(headers, "headers", &self->headers)
        || !table(suffixes, "suffixes", &self->suffixes))
        return NULL;
    for (Py_ssize_t i = 1; i <= MAX_PIV_LEN; i++)
        if (PyBytes_GET_SIZE(PyTuple_GET_ITEM(headers, i)) != 3) {
            PyErr_SetString(PyExc_ValueError, "bind(): each record header is 3 bytes");
            return NULL;
        }
    Py_INCREF(kid_field);
    Py_XSETREF(self->kid_field, kid_field);
    self->max_ciphertext = max_ciphertext;
    self->bound = 1;
    Py_RETURN_NONE;
}

/* The partial IV as an integer below 2^40; -1 with an exception set. */
static long long partial_iv(Ccm *self, PyObject *value)
{
    if (!self->bound) {
        PyErr_SetString(PyExc_TypeError, "bind() first");
        return -1;
    }
    unsigned long long piv = PyLong_AsUnsignedLongLong(value);
    if (piv == (unsigned long long)-1 && PyErr_Occurred())
        return -1;
    if (piv >> 40) {
        PyErr_SetString(PyExc_ValueError, "partial IV above 2^40 - 1");
        return -1;
    }
    return (long long)piv;
}

static void nonce_of(Ccm *self, unsigned long long piv, unsigned char *nonce)
{
    memcpy(nonce, self->nonce_base, NONCE_LEN);
    for (int i = 0; i < MAX_PIV_LEN; i++)
        nonce[NONCE_LEN - 1 - i] ^= (unsigned char)(piv >> (8 * i));
}

/* The AAD: prefix, then the parts; in buf when it fits, else in memory the caller frees (*heap). */
static unsigned char *aad_of(PyObject *prefix, const unsigned char *parts[], const Py_ssize_t lens[], int count,
                             unsigned char *buf, Py_ssize_t size, Py_ssize_t *total, unsigned char **heap)
{
    Py_ssize_t t = PyBytes_GET_SIZE(prefix);
    for (int i = 0; i < count; i++)
        t += lens[i];
    unsigned char *a = buf;
    *heap = NULL;
    if (t > size) {
        a = *heap = PyMem_Malloc(t);
        if (a == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
    }
    memcpy(a, PyBytes_AS_STRING(prefix), PyBytes_GET_SIZE(prefix));
    Py_ssize_t at = PyBytes_GET_SIZE(prefix);
    for (int i = 0; i < count; i++) {
        memcpy(a + at, parts[i], lens[i]);
        at += lens[i];
    }
    *total = t;
    return a;
}

/* seal(piv, frame) -> the data record of frame under partial IV piv: header, partial IV, kid field, ciphertext
 * and tag, the AAD being prefix + partial IV + suffix (the tables of its length) and the nonce base ^ piv. */
static PyObject *Ccm_seal(Ccm *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyBytes_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "seal(piv: int, frame: bytes)");
        return NULL;
    }
    long long value = partial_iv(self, args[0]);
    if (value < 0)
        return NULL;
    unsigned long long piv = (unsigned long long)value;
    Py_ssize_t f = PyBytes_GET_SIZE(args[1]);
    if (f > MAX_LEN) {
        PyErr_SetString(PyExc_ValueError, "frame longer than 65535 bytes");
        return NULL;
    }
    int n = 1;
    while (n < MAX_PIV_LEN && (piv >> (8 * n)) != 0)
        n++;
    unsigned char piv_bytes[MAX_PIV_LEN], nonce[NONCE_LEN], buf[256], *heap;
    for (int i = 0; i < n; i++)
        piv_bytes[i] = (unsigned char)(piv >> (8 * (n - 1 - i)));
    nonce_of(self, piv, nonce);
    PyObject *suffix = PyTuple_GET_ITEM(self->suffixes, n), *header = PyTuple_GET_ITEM(self->headers, n);
    const unsigned char *parts[2] = {piv_bytes, (const unsigned char *)PyBytes_AS_STRING(suffix)};
    const Py_ssize_t lens[2] = {n, PyBytes_GET_SIZE(suffix)};
    Py_ssize_t a;
    unsigned char *aad = aad_of(PyTuple_GET_ITEM(self->prefixes, n), parts, lens, 2, buf, sizeof buf, &a, &heap);
    if (aad == NULL)
        return NULL;
    Py_ssize_t k = PyBytes_GET_SIZE(self->kid_field), head = 3 + n + k;
    PyObject *out = PyBytes_FromStringAndSize(NULL, head + f + self->tag_len);
    if (out != NULL) {
        unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out);
        memcpy(o, PyBytes_AS_STRING(header), 3);
        memcpy(o + 3, piv_bytes, n);
        memcpy(o + 3 + n, PyBytes_AS_STRING(self->kid_field), k);
        if (!encrypt_into(self, nonce, aad, a, (const unsigned char *)PyBytes_AS_STRING(args[1]), f, o + head))
            Py_CLEAR(out);
    }
    PyMem_Free(heap);
    return out;
}

/* open(data, n, end, piv) -> the frame of data record data, whose partial IV (n bytes from offset 3, value piv)
 * and kid (up to end) the caller parsed; None when the ciphertext data[end:] is shorter than the tag or longer
 * than the limit (malformed); InvalidTag when it does not verify. The AAD is prefix + partial IV + 0x43 + the
 * 3 header bytes, the nonce the nonce base ^ piv. */
static PyObject *Ccm_open(Ccm *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyBytes_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "open(data: bytes, n: int, end: int, piv: int)");
        return NULL;
    }
    Py_ssize_t n = PyLong_AsSsize_t(args[1]), end = PyLong_AsSsize_t(args[2]);
    if ((n == -1 || end == -1) && PyErr_Occurred())
        return NULL;
    long long value = partial_iv(self, args[3]);
    if (value < 0)
        return NULL;
    const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t size = PyBytes_GET_SIZE(args[0]);
    if (n < 1 || n > MAX_PIV_LEN || end < 3 + n || size < 3 + n) {
        PyErr_SetString(PyExc_ValueError, "open(): a partial IV of 1 to 5 bytes within the record, before end");
        return NULL;
    }
    Py_ssize_t c = end < size ? size - end : 0;
    if (c < self->tag_len || c > self->max_ciphertext)
        Py_RETURN_NONE;
    unsigned char nonce[NONCE_LEN], buf[256], *heap;
    static const unsigned char bstr3 = 0x43;
    nonce_of(self, (unsigned long long)value, nonce);
    const unsigned char *parts[3] = {data + 3, &bstr3, data};
    const Py_ssize_t lens[3] = {n, 1, 3};
    Py_ssize_t a;
    unsigned char *aad = aad_of(PyTuple_GET_ITEM(self->prefixes, n), parts, lens, 3, buf, sizeof buf, &a, &heap);
    if (aad == NULL)
        return NULL;
    PyObject *out = decrypt_new(self, nonce, aad, a, data + end, c - self->tag_len);
    PyMem_Free(heap);
    return out;
}

static PyMethodDef Ccm_methods[] = {
    {"bind", (PyCFunction)Ccm_bind, METH_VARARGS,
     "bind(nonce_base, prefixes, headers, suffixes, kid_field, max_ciphertext): the tables of seal() and open()"},
    {"seal", (PyCFunction)(void (*)(void))Ccm_seal, METH_FASTCALL, "seal(piv, frame) -> data record"},
    {"open", (PyCFunction)(void (*)(void))Ccm_open, METH_FASTCALL, "open(data, n, end, piv) -> frame or None"},
    {"encrypt", (PyCFunction)(void (*)(void))Ccm_encrypt, METH_FASTCALL,
     "encrypt(nonce, data, associated_data) -> ciphertext || tag"},
    {"decrypt", (PyCFunction)(void (*)(void))Ccm_decrypt, METH_FASTCALL,
     "decrypt(nonce, data, associated_data) -> plaintext; raises cryptography.exceptions.InvalidTag"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CcmType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "secure.records._aead.AesCcm",
    .tp_doc = "AesCcm(key, tag_length): AES-128-CCM with 13-byte nonces, as cryptography's AESCCM.",
    .tp_basicsize = sizeof(Ccm),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Ccm_init,
    .tp_dealloc = (destructor)Ccm_dealloc,
    .tp_methods = Ccm_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "secure.records._aead", "AES-128-CCM for the record hot path (see AesCcm).", -1, NULL,
};

PyMODINIT_FUNC PyInit__aead(void)
{
    PyObject *exceptions = PyImport_ImportModule("cryptography.exceptions");
    if (exceptions == NULL)
        return NULL;
    InvalidTag = PyObject_GetAttrString(exceptions, "InvalidTag");
    Py_DECREF(exceptions);
    if (InvalidTag == NULL || PyType_Ready(&CcmType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&CcmType);
    if (PyModule_AddObject(m, "AesCcm", (PyObject *)&CcmType) < 0) {
        Py_DECREF(&CcmType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
