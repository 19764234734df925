/* Philox 4x32-10 against the Random123 known-answer vectors, and the
 * properties the project relies on: streams are pure functions of
 * (seed, purpose, index) and draws are in range. */
#include <criterion/criterion.h>
#include <math.h>

#include "tsedarts/philox.h"

static void kat(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1, uint32_t r0,
                uint32_t r1, uint32_t r2, uint32_t r3)
{
    uint32_t ctr[4] = {c0, c1, c2, c3}, key[2] = {k0, k1};
    philox_block b = philox4x32_10(ctr, key);
    cr_expect_eq(b.v[0], r0, "word 0: %08x != %08x", b.v[0], r0);
    cr_expect_eq(b.v[1], r1, "word 1: %08x != %08x", b.v[1], r1);
    cr_expect_eq(b.v[2], r2, "word 2: %08x != %08x", b.v[2], r2);
    cr_expect_eq(b.v[3], r3, "word 3: %08x != %08x", b.v[3], r3);
}

Test(philox, random123_known_answers)
{
    kat(0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8);
    kat(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e,
        0xa20bc7c6, 0x6d5451fd);
    kat(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb,
        0x5001e420, 0x24126ea1);
}

Test(philox, streams_are_keyed_and_reproducible)
{
    philox_stream a, b, c;
    philox_stream_init(&a, 42, PURPOSE_INIT, 7);
    philox_stream_init(&b, 42, PURPOSE_INIT, 7);
    philox_stream_init(&c, 42, PURPOSE_SHUFFLE, 7);
    int differ = 0;
    for (int i = 0; i < 100; i++) {
        uint32_t x = philox_next_u32(&a), y = philox_next_u32(&b), z = philox_next_u32(&c);
        cr_assert_eq(x, y);
        differ += x != z;
    }
    cr_expect_gt(differ, 90, "different purposes must give different streams");
    /* Block j of a stream is the bijection at counter {j, index, purpose}. */
    philox_stream d;
    philox_stream_init(&d, 0x0000000100000002ull, 3, 0x0000000500000004ull);
    for (int i = 0; i < 8; i++) philox_next_u32(&d);
    uint32_t ctr[4] = {2, 4, 5, 3}, key[2] = {2, 1};
    philox_block blk = philox4x32_10(ctr, key);
    cr_expect_eq(philox_next_u32(&d), blk.v[0]);
}

Test(philox, draws_in_range)
{
    philox_stream s;
    philox_stream_init(&s, 1, PURPOSE_TEST, 0);
    double sum = 0, sq = 0;
    int n = 20000;
    for (int i = 0; i < n; i++) {
        float u = philox_next_uniform_f32(&s);
        double v = philox_next_uniform_f64(&s);
        uint32_t k = philox_next_below(&s, 7);
        cr_assert(u > 0 && u < 1 && v > 0 && v < 1 && k < 7);
        double z = philox_next_normal(&s);
        sum += z;
        sq += z * z;
    }
    cr_expect_lt(fabs(sum / n), 0.05, "normal mean %g", sum / n);
    cr_expect_lt(fabs(sq / n - 1), 0.05, "normal variance %g", sq / n);
}
