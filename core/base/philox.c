#include "tsedarts/philox.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static void mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo)
{
    uint64_t p = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

philox_block philox4x32_10(const uint32_t ctr[4], const uint32_t key[2])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, lo0, hi1, lo1;
        mulhilo(PHILOX_M0, c0, &hi0, &lo0);
        mulhilo(PHILOX_M1, c2, &hi1, &lo1);
        uint32_t n0 = hi1 ^ c1 ^ k0;
        uint32_t n1 = lo1;
        uint32_t n2 = hi0 ^ c3 ^ k1;
        uint32_t n3 = lo0;
        c0 = n0;
        c1 = n1;
        c2 = n2;
        c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    philox_block out = {{c0, c1, c2, c3}};
    return out;
}

void philox_stream_init(philox_stream *s, uint64_t seed, uint32_t purpose,
                        uint64_t index)
{
    s->key[0] = (uint32_t)seed;
    s->key[1] = (uint32_t)(seed >> 32);
    s->ctr[0] = 0;
    s->ctr[1] = (uint32_t)index;
    s->ctr[2] = (uint32_t)(index >> 32);
    s->ctr[3] = purpose;
    s->used = 4;
}

uint32_t philox_next_u32(philox_stream *s)
{
    if (s->used == 4) {
        philox_block b = philox4x32_10(s->ctr, s->key);
        for (int i = 0; i < 4; i++) s->buf[i] = b.v[i];
        s->ctr[0]++;
        s->used = 0;
    }
    return s->buf[s->used++];
}

float philox_next_uniform_f32(philox_stream *s)
{
    uint32_t x = philox_next_u32(s) >> 8;
    return ((float)x + 0.5f) * (1.0f / 16777216.0f);
}

double philox_next_uniform_f64(philox_stream *s)
{
    uint64_t hi = philox_next_u32(s) >> 5; /* 27 bits */
    uint64_t lo = philox_next_u32(s) >> 6; /* 26 bits */
    uint64_t x = (hi << 26) | lo;
    return ((double)x + 0.5) * (1.0 / 9007199254740992.0);
}

double philox_next_normal(philox_stream *s)
{
    double u1 = philox_next_uniform_f64(s);
    double u2 = philox_next_uniform_f64(s);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925286766559 * u2);
}

uint32_t philox_next_below(philox_stream *s, uint32_t n)
{
    /* Rejection on the top of the range keeps every value equally likely. */
    uint32_t limit = UINT32_MAX - (UINT32_MAX % n);
    for (;;) {
        uint32_t x = philox_next_u32(s);
        if (x < limit) return x % n;
    }
}
