/*
 * message.c - frames to messages and back (RFC 6455 5.4-5.6, 8.1).
 *
 * Receive side: struct wsg_reader is a two-state machine, "in header" and
 * "in payload".  Header bytes are parsed straight from the caller's input
 * when a whole header is there, and otherwise collected in hbuf until
 * wsg_frame_parse_header (which is stateless) accepts them.  Payload bytes
 * are unmasked while being copied to their final place: the message buffer
 * for data frames, ctrl[] for control frames, so a ping between two
 * fragments never touches the message being assembled.
 *
 * Invariants:
 *   - in_payload is false between frames; a frame whose payload is
 *     complete is finished before feed returns, so a zero-length frame is
 *     delivered in the call that completes its header.
 *   - len + (what is left of the current frame) <= max_message, and fits a
 *     size_t: checked when the header arrives, before a byte is allocated.
 *   - The buffer grows only as payload bytes really arrive, doubling (from
 *     a 256-byte floor, never past max_message): a peer announcing a huge
 *     frame and trickling it costs us at most about twice what it has
 *     actually sent, and a message in many small fragments costs
 *     O(log n) reallocations, not one per fragment.
 *   - For an uncompressed text message, utf8 has seen exactly buf[0..len).
 *   - delivered means buf holds the message last handed out; it is
 *     recycled at the start of the next feed, not before, because the
 *     caller may still be reading it until then.
 *   - error is sticky: once set, feed returns it without looking at input.
 *
 * Send side: a message is cut into frames of at most fragment_size
 * payload bytes; the first carries the opcode (and RSV1 when compressed),
 * the rest are continuations, the last has FIN.  Each masked frame gets a
 * fresh key (section 5.3 wants it unpredictable per frame).
 */
#include "message.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "close.h"
#include "mask.h"

/* Smallest message buffer we allocate: keeps small messages of growing
 * sizes from reallocating each time, and costs nothing worth counting. */
#define WSG_READER_MIN_ALLOC 256

/* A buffer larger than this is not kept across messages: one big message
 * must not pin its memory on a connection that then goes idle. */
#define WSG_READER_KEEP_MAX (64 * 1024)

/* Where a zero-length payload points: callers get a valid pointer always. */
static const uint8_t wsg_empty[1];

/* ------------------------------------------------------------------ */
/* reader                                                             */
/* ------------------------------------------------------------------ */

void
wsg_reader_init(struct wsg_reader *r, const struct wsg_reader_limits *lim)
{
    memset(r, 0, sizeof *r);
    if (lim != NULL) {
        r->flim.role = lim->role;
        r->flim.rsv_allowed = lim->rsv_allowed;
        r->flim.max_frame = lim->max_frame;
        r->max_message = lim->max_message;
    } else {
        r->flim.role = WSG_ROLE_SERVER;
    }
    wsg_utf8_init(&r->utf8);
    r->error = WSG_OK;
}

static void
reader_release_buffer(struct wsg_reader *r)
{
    free(r->buf);
    r->buf = NULL;
    r->cap = 0;
}

void
wsg_reader_free(struct wsg_reader *r)
{
    if (r == NULL)
        return;
    reader_release_buffer(r);
    r->len = 0;
}

/* Also ends the life of the last message handed out (its data is the
 * buffer): callers shrink after they are done with it, e.g. when idle. */
void
wsg_reader_shrink(struct wsg_reader *r)
{
    /* Bytes of a message still being assembled must stay. */
    if (r->in_message && r->len > 0)
        return;
    reader_release_buffer(r);
    r->len = 0;
}

bool
wsg_reader_idle(const struct wsg_reader *r)
{
    return r->error == WSG_OK && r->hlen == 0 && !r->in_payload && !r->in_message;
}

size_t
wsg_reader_need(const struct wsg_reader *r)
{
    struct wsg_frame_header h;
    size_t need = 1;

    if (r->error != WSG_OK || r->in_payload)
        return 1;
    if (r->hlen == 0)
        return 2;   /* the shortest header */
    if (wsg_frame_parse_header(r->hbuf, r->hlen, &r->flim, &h, &need)
        != WSG_ERR_INCOMPLETE)
        return 1;
    return need > 0 ? need : 1;
}

bool
wsg_reader_owns(const struct wsg_reader *r, const uint8_t *data)
{
    return r->delivered && r->buf != NULL && data == r->buf;
}

uint8_t *
wsg_reader_take(struct wsg_reader *r, const uint8_t *data)
{
    if (!wsg_reader_owns(r, data))
        return NULL;
    uint8_t *buf = r->buf;
    /* What recycling would have kept, so that the next message of the
     * same size does not grow a buffer from the floor, copying each time. */
    r->cap_hint = r->cap <= WSG_READER_KEEP_MAX ? r->cap : 0;
    r->buf = NULL;
    r->cap = 0;
    return buf;
}

/* The previous feed handed out a data message: its buffer is ours again. */
static void
reader_recycle(struct wsg_reader *r)
{
    r->delivered = false;
    r->len = 0;
    if (r->cap > WSG_READER_KEEP_MAX)
        reader_release_buffer(r);
}

/* A header has been parsed into r->fh: check it against the message
 * state (section 5.4) and the size limit, and start a message if it opens
 * one.  Nothing is allocated here. */
static enum wsg_err
reader_frame_begin(struct wsg_reader *r)
{
    const struct wsg_frame_header *h = &r->fh;
    uint64_t room;

    r->in_payload = true;
    r->payload_pos = 0;

    switch (h->opcode) {
    case WSG_OP_CLOSE:
    case WSG_OP_PING:
    case WSG_OP_PONG:
        /* frame.c enforces these too; ctrl[] relies on the first. */
        if (h->payload_len > WSG_CONTROL_MAX_PAYLOAD)
            return WSG_ERR_CONTROL_TOO_LONG;
        if (!h->fin)
            return WSG_ERR_CONTROL_FRAGMENTED;
        /* RFC 7692 6.1: control frames are never compressed. */
        if (h->rsv & WSG_RSV1)
            return WSG_ERR_RSV_BITS;
        return WSG_OK;
    case WSG_OP_CONTINUATION:
        if (!r->in_message)
            return WSG_ERR_UNEXPECTED_CONTINUATION;
        /* RFC 7692 6.1: RSV1 marks the whole message, first frame only. */
        if (h->rsv & WSG_RSV1)
            return WSG_ERR_RSV_BITS;
        break;
    case WSG_OP_TEXT:
    case WSG_OP_BINARY:
        if (r->in_message)
            return WSG_ERR_EXPECTED_CONTINUATION;
        r->in_message = true;
        r->msg_opcode = h->opcode;
        r->msg_compressed = (h->rsv & WSG_RSV1) != 0;
        r->len = 0;
        wsg_utf8_init(&r->utf8);
        break;
    default:
        return WSG_ERR_BAD_OPCODE;
    }

    /* Section 10.4: refuse before allocating, on the announced size. */
    room = r->max_message != 0 ? r->max_message : UINT64_MAX;
    if (r->len > room || h->payload_len > room - r->len)
        return WSG_ERR_MESSAGE_TOO_BIG;
    if (h->payload_len > SIZE_MAX - r->len)
        return WSG_ERR_MESSAGE_TOO_BIG;     /* could not even address it */
    return WSG_OK;
}

/* Parse a header from avail bytes at in, buffering a partial one.
 * *used is how many of those bytes belong to the header. */
static enum wsg_err
reader_header(struct wsg_reader *r, const uint8_t *in, size_t avail,
              size_t *used)
{
    enum wsg_err err;
    size_t old = r->hlen;
    size_t n;

    *used = 0;
    if (old == 0) {
        /* Common case: the whole header is in the input, no copy. */
        err = wsg_frame_parse_header(in, avail, &r->flim, &r->fh, NULL);
        if (err == WSG_OK) {
            *used = r->fh.header_len;
            return reader_frame_begin(r);
        }
        if (err != WSG_ERR_INCOMPLETE)
            return err;
    }

    n = WSG_FRAME_MAX_HEADER - old;
    if (n > avail)
        n = avail;
    if (old > 0) {
        memcpy(r->hbuf + old, in, n);
        err = wsg_frame_parse_header(r->hbuf, old + n, &r->flim, &r->fh, NULL);
    } else {
        memcpy(r->hbuf, in, n);
        err = WSG_ERR_INCOMPLETE;   /* just learnt that above */
    }

    if (err == WSG_ERR_INCOMPLETE) {
        /* A header is at most 14 bytes: more means frame.c is wrong, and
         * looping on it would never end. */
        if (old + n >= WSG_FRAME_MAX_HEADER)
            return WSG_ERR_INTERNAL;
        r->hlen = (uint8_t)(old + n);
        *used = n;
        return WSG_ERR_INCOMPLETE;
    }
    if (err != WSG_OK)
        return err;
    /* The header ends somewhere in the n new bytes; the rest is payload. */
    if (r->fh.header_len <= old || r->fh.header_len > old + n)
        return WSG_ERR_INTERNAL;
    *used = r->fh.header_len - old;
    r->hlen = 0;
    return reader_frame_begin(r);
}

/* Make room for n more message bytes, n of which have arrived: doubling
 * keeps the capacity under twice what the peer has really sent, whatever
 * it claims it will send. */
static enum wsg_err
reader_reserve(struct wsg_reader *r, size_t n)
{
    size_t need = r->len + n;   /* no overflow: reader_frame_begin */
    size_t cap;
    uint8_t *p;

    if (need <= r->cap)
        return WSG_OK;
    cap = r->cap > 0 ? r->cap : r->cap_hint > 0 ? r->cap_hint : WSG_READER_MIN_ALLOC;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
    if (r->max_message > 0 && cap > r->max_message)
        cap = need > r->max_message ? need : (size_t)r->max_message;

    p = realloc(r->buf, cap);
    if (p == NULL)
        return WSG_ERR_NOMEM;
    r->buf = p;
    r->cap = cap;
    return WSG_OK;
}

/* Take up to avail payload bytes of the current frame from in. */
static enum wsg_err
reader_payload(struct wsg_reader *r, const uint8_t *in, size_t avail,
               size_t *used)
{
    uint64_t left = r->fh.payload_len - r->payload_pos;
    size_t n = avail < left ? avail : (size_t)left;
    bool control = wsg_opcode_is_control(r->fh.opcode);
    uint8_t *dst;

    *used = 0;
    if (control) {
        dst = r->ctrl + r->payload_pos;
    } else {
        enum wsg_err err = reader_reserve(r, n);
        if (err != WSG_OK)
            return err;
        dst = r->buf + r->len;
    }

    if (r->fh.masked)
        wsg_mask_copy(dst, in, n, r->fh.mask_key, r->payload_pos);
    else
        memcpy(dst, in, n);

    if (!control) {
        /* Section 8.1: fail as soon as the text cannot be valid, even in
         * the middle of a fragment. */
        if (r->msg_opcode == WSG_OP_TEXT && !r->msg_compressed &&
            !wsg_utf8_feed(&r->utf8, dst, n))
            return WSG_ERR_BAD_UTF8;
        r->len += n;
    }
    r->payload_pos += n;
    *used = n;
    return WSG_OK;
}

/* The current frame's payload is complete.  Returns WSG_OK with *msg set
 * when it completes a message (or is a control frame), WSG_ERR_INCOMPLETE
 * after a non-final fragment, or an error. */
static enum wsg_err
reader_frame_end(struct wsg_reader *r, struct wsg_msg *msg)
{
    const struct wsg_frame_header *h = &r->fh;
    struct wsg_msg m = {0};

    r->in_payload = false;

    if (wsg_opcode_is_control(h->opcode)) {
        m.opcode = h->opcode;
        if (h->opcode == WSG_OP_CLOSE) {
            enum wsg_err err = wsg_close_parse(r->ctrl, (size_t)h->payload_len,
                                               &m.close_code, &m.data, &m.len);
            if (err != WSG_OK)
                return err;
        } else {
            m.data = r->ctrl;
            m.len = (size_t)h->payload_len;
        }
        *msg = m;
        return WSG_OK;
    }

    if (!h->fin)
        return WSG_ERR_INCOMPLETE;
    if (r->msg_opcode == WSG_OP_TEXT && !r->msg_compressed &&
        !wsg_utf8_complete(&r->utf8))
        return WSG_ERR_BAD_UTF8;    /* ends inside a character */

    m.opcode = r->msg_opcode;
    m.compressed = r->msg_compressed;
    m.data = r->buf != NULL ? r->buf : wsg_empty;
    m.len = r->len;
    *msg = m;
    r->in_message = false;
    r->delivered = true;
    return WSG_OK;
}

enum wsg_err
wsg_reader_feed(struct wsg_reader *r, const uint8_t *in, size_t len,
                size_t *consumed, struct wsg_msg *msg)
{
    enum wsg_err err;
    size_t pos = 0;
    size_t used;

    if (consumed != NULL)
        *consumed = 0;
    if (r->error != WSG_OK)
        return r->error;
    if (r->delivered)
        reader_recycle(r);

    for (;;) {
        if (!r->in_payload) {
            if (pos == len) {
                err = WSG_ERR_INCOMPLETE;
                break;
            }
            err = reader_header(r, in + pos, len - pos, &used);
            pos += used;
            if (err == WSG_ERR_INCOMPLETE)
                continue;           /* input exhausted: stops above */
            if (err != WSG_OK)
                break;
        }
        if (r->payload_pos < r->fh.payload_len) {
            if (pos == len) {
                err = WSG_ERR_INCOMPLETE;
                break;
            }
            err = reader_payload(r, in + pos, len - pos, &used);
            pos += used;
            if (err != WSG_OK)
                break;
            if (r->payload_pos < r->fh.payload_len)
                continue;           /* input exhausted: stops above */
        }
        err = reader_frame_end(r, msg);
        if (err != WSG_ERR_INCOMPLETE)
            break;                  /* a message, or an error */
    }

    if (err != WSG_OK && err != WSG_ERR_INCOMPLETE)
        r->error = err;
    if (consumed != NULL)
        *consumed = pos;
    return err;
}

/* ------------------------------------------------------------------ */
/* encoder                                                            */
/* ------------------------------------------------------------------ */

static size_t
size_add(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;   /* saturate: "too big" */
}

/* Wire size of len payload bytes in frames of at most frag bytes
 * (frag 0: one frame).  SIZE_MAX when it does not fit a size_t. */
static size_t
encoded_size(size_t len, size_t frag, bool mask)
{
    size_t full, rest, hs, total;

    if (frag == 0 || len <= frag)
        return size_add(wsg_frame_header_size(len, mask), len);
    full = len / frag;
    rest = len % frag;
    hs = wsg_frame_header_size(frag, mask);
    if (full > SIZE_MAX / hs)
        return SIZE_MAX;
    total = size_add(len, full * hs);
    if (rest > 0)
        total = size_add(total, wsg_frame_header_size(rest, mask));
    return total;
}

size_t
wsg_msg_encoded_size(size_t len, const struct wsg_encode_opts *opts)
{
    /* The opcode is not known here: for a control message, which is never
     * fragmented, this is an upper bound when fragment_size < len. */
    if (opts == NULL)
        return encoded_size(len, 0, false);
    return encoded_size(len, opts->fragment_size, opts->mask);
}

static enum wsg_err
new_mask_key(const struct wsg_encode_opts *opts, uint8_t key[4])
{
    if (opts->mask_key != NULL) {
        opts->mask_key(key, opts->mask_key_arg);
        return WSG_OK;
    }
    /* Section 5.3: keys must not be predictable, hence a CSPRNG. */
    if (RAND_bytes(key, 4) != 1)
        return WSG_ERR_INTERNAL;
    return WSG_OK;
}

enum wsg_err
wsg_msg_encode(uint8_t *out, size_t cap, uint8_t opcode, const uint8_t *data,
               size_t len, const struct wsg_encode_opts *opts, size_t *written)
{
    static const struct wsg_encode_opts server_defaults;
    size_t frag, off = 0, pos = 0;

    if (written != NULL)
        *written = 0;
    if (opts == NULL)
        opts = &server_defaults;
    if (len > 0 && data == NULL)
        return WSG_ERR_INVALID_ARGUMENT;

    switch (opcode) {
    case WSG_OP_TEXT:
    case WSG_OP_BINARY:
        frag = opts->fragment_size;
        break;
    case WSG_OP_CLOSE:
    case WSG_OP_PING:
    case WSG_OP_PONG:
        if (len > WSG_CONTROL_MAX_PAYLOAD)
            return WSG_ERR_CONTROL_TOO_LONG;
        if (opts->rsv1)
            return WSG_ERR_INVALID_ARGUMENT;    /* RFC 7692 6.1 */
        frag = 0;                               /* section 5.4 */
        break;
    default:
        return WSG_ERR_INVALID_ARGUMENT;        /* continuation, reserved */
    }
    if (frag == 0 || frag > len)
        frag = len;

    if (encoded_size(len, frag, opts->mask) > cap)
        return WSG_ERR_BUFFER_TOO_SMALL;        /* before writing a byte */

    /* do-while: a zero-length message is still one frame. */
    do {
        struct wsg_frame_header h = {0};
        size_t n = len - off < frag ? len - off : frag;
        size_t w = 0;
        enum wsg_err err;

        h.fin = off + n == len;
        h.opcode = off == 0 ? opcode : WSG_OP_CONTINUATION;
        h.rsv = off == 0 && opts->rsv1 ? WSG_RSV1 : 0;
        h.masked = opts->mask;
        h.payload_len = n;
        if (h.masked) {
            err = new_mask_key(opts, h.mask_key);
            if (err != WSG_OK)
                return err;
        }
        err = wsg_frame_encode(out + pos, cap - pos, &h,
                               n > 0 ? data + off : wsg_empty, n, &w);
        if (err != WSG_OK)
            return err;
        pos += w;
        off += n;
    } while (off < len);

    if (written != NULL)
        *written = pos;
    return WSG_OK;
}
