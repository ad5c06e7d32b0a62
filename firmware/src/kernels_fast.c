/* Fast kernels: word-wise XNOR-popcount (algebra in kernels.h). The popcount core of the
 * binary kernels (xnor_rows) is chosen at compile time:
 *   Cortex-M4/M7 (Thumb-2 with the DSP extension; no popcount instruction, HARDWARE 4):
 *     Harley-Seal carry-save adders over blocks of 8 words [Harley and Seal; Mula, Kurz and
 *     Lemire 2018, "Faster population counts"] in Thumb-2 assembly, the bit planes summed
 *     with nibble-wise SWAR [Warren, Hacker's Delight 5-1] and one USAD(A)8;
 *   hosts with AVX2: 256-bit nibble lookup popcount (VPSHUFB) with byte sums (VPSADBW)
 *     [Mula et al. 2018] for the bulk of a row, 64-bit popcounts for the rest;
 *   anything else: 64-bit popcounts over pairs of 32-bit words (__builtin_popcountll).
 * The memory layout stays 32-bit little-endian words (FORMAT.md): a 64-bit or 256-bit load
 * reads 2 or 8 consecutive words, which on a little-endian host is the same bit string.
 * Weight padding bits past K are masked off: a fault in a padding cell never changes a result,
 * as in the Python reference, which only sees the K real weights. */
#include <string.h>
#include "kernels.h"

static inline uint32_t tail_mask(uint32_t k) { return (k & 31u) ? (1u << (k & 31u)) - 1u : 0xFFFFFFFFu; }
/* two consecutive 32-bit words as one 64-bit value (any alignment) and its popcount */
static inline uint64_t load64(const uint32_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint32_t pop64(uint64_t v) { return (uint32_t)__builtin_popcountll(v); }

#if defined(__ARM_FEATURE_DSP) || defined(__ARM_FEATURE_SIMD32)
#include <arm_acle.h>
#endif

#if defined(__thumb2__) && defined(__ARM_FEATURE_DSP)
/* ---- Cortex-M4/M7: Harley-Seal ------------------------------------------------------------ */

/* Carry-save adder: h:l = a + b + c bit-wise (l the sum, h the carry). */
#define CSA(h, l, a, b, c) do { uint32_t u_ = (a) ^ (b); h = ((a) & (b)) | (u_ & (c)); l = u_ ^ (c); } while (0)
#define HA(h, l, a, b) do { uint32_t s_ = (a) ^ (b); h = (a) & (b); l = s_; } while (0)

/* Thumb-2 blocks of 8 words (instruction counts are the target, HARDWARE 4): LOAD puts
 * words (a ^ b) [& m] into two registers (LDRD pairs), CSA_ is h:l = lin + x + y in 5
 * instructions with scratch u, s. Operands: %[pa] %[pb] [%[pm]] pointers, A..F scratch. */
#define LOAD_(x0, x1, s0, s1)                                                                  \
    "ldrd %[" x0 "], %[" x1 "], [%[pa]], #8\n\t" "ldrd %[" s0 "], %[" s1 "], [%[pb]], #8\n\t"   \
    "eor %[" x0 "], %[" x0 "], %[" s0 "]\n\t" "eor %[" x1 "], %[" x1 "], %[" s1 "]\n\t"
#define MASK_(x0, x1, s0, s1)                                                                  \
    "ldrd %[" s0 "], %[" s1 "], [%[pm]], #8\n\t"                                               \
    "and %[" x0 "], %[" x0 "], %[" s0 "]\n\t" "and %[" x1 "], %[" x1 "], %[" s1 "]\n\t"
#define CSA_(h, l, lin, x, y, u, s)                                                            \
    "eor %[" u "], %[" lin "], %[" x "]\n\t" "and %[" h "], %[" lin "], %[" x "]\n\t"           \
    "and %[" s "], %[" u "], %[" y "]\n\t" "orr %[" h "], %[" h "], %[" s "]\n\t"               \
    "eor %[" l "], %[" u "], %[" y "]\n\t"
#define HA_(h, l, x, y) "eor %[" l "], %[" x "], %[" y "]\n\t" "and %[" h "], %[" x "], %[" y "]\n\t"
#define NO_MASK_(x0, x1, s0, s1) ""

/* First block from zero planes, with one more word (in F) at the first adder (29 operations):
 * ones, twos, fours, eights planes of the 9 words. */
#define TREE8_ASM(L)                                                                           \
    LOAD_("A", "B", "C", "D") L("A", "B", "C", "D") CSA_("E", "o", "A", "B", "F", "C", "D")    \
    LOAD_("A", "B", "C", "D") L("A", "B", "C", "D") CSA_("F", "o", "o", "A", "B", "C", "D")    \
    HA_("A", "t", "E", "F")                                                                    \
    LOAD_("B", "C", "D", "E") L("B", "C", "D", "E") CSA_("E", "o", "o", "B", "C", "D", "F")    \
    LOAD_("B", "C", "D", "F") L("B", "C", "D", "F") CSA_("F", "o", "o", "B", "C", "D", "B")    \
    CSA_("B", "t", "t", "E", "F", "C", "D")                                                    \
    HA_("e", "f", "A", "B")
/* Further blocks: 7 adders into ones/twos/fours; the carry out (weight 8) is counted per byte
 * (SWAR, immediates) and added into the two 16-bit lanes of tot (UXTAB16). */
#define HS8_LOOP_ASM(L)                                                                        \
    "2:\n\t"                                                                                   \
    LOAD_("A", "B", "C", "D") L("A", "B", "C", "D") CSA_("E", "o", "o", "A", "B", "C", "D")    \
    LOAD_("A", "B", "C", "D") L("A", "B", "C", "D") CSA_("F", "o", "o", "A", "B", "C", "D")    \
    CSA_("A", "t", "t", "E", "F", "C", "D")                                                    \
    LOAD_("B", "C", "D", "E") L("B", "C", "D", "E") CSA_("E", "o", "o", "B", "C", "D", "F")    \
    LOAD_("B", "C", "D", "F") L("B", "C", "D", "F") CSA_("F", "o", "o", "B", "C", "D", "B")    \
    CSA_("B", "t", "t", "E", "F", "C", "D")                                                    \
    CSA_("C", "f", "f", "A", "B", "D", "E")                                                    \
    "lsr %[D], %[C], #1\n\t" "and %[D], %[D], #0x55555555\n\t" "sub %[C], %[C], %[D]\n\t"      \
    "and %[D], %[C], #0x33333333\n\t" "lsr %[C], %[C], #2\n\t" "and %[C], %[C], #0x33333333\n\t" \
    "add %[C], %[C], %[D]\n\t" "add %[C], %[C], %[C], lsr #4\n\t"                              \
    "and %[C], %[C], #0x0F0F0F0F\n\t"                                                         \
    "uxtab16 %[tot], %[tot], %[C]\n\t" "uxtab16 %[tot], %[tot], %[C], ror #8\n\t"              \
    "cmp %[pa], %[end]\n\t" "bne 2b\n\t"
#define SCRATCH_OPS [A] "=&r"(A), [B] "=&r"(B), [C] "=&r"(C), [D] "=&r"(D), [E] "=&r"(E), [F] "=&r"(F)

/* Phase 1 over a chunk of rows: per row, the adder tree of its first 8 words and x8 =
 * ((x ^ w)[n-1] & mm) (the last word, or 0 when it lies in a block), planes o, t, f, e
 * stored at pp. One assembly loop: 13 registers (14 masked) for the tree, the rest in memory. */
typedef struct {
    uint32_t lastoff, mm, xl, skip, span, skip2;
    const uint32_t *x, *m, *x8p, *m8p;
    uint32_t *pp, *ppend;
} tree_args;
#define TREE_ROWS_ASM(L, LOAD_PM)                                                              \
    "1:\n\t"                                                                                   \
    "ldr %[F], %[lastoff]\n\t" "ldr %[F], [%[pb], %[F]]\n\t" "ldr %[A], %[mm]\n\t"             \
    "and %[F], %[F], %[A]\n\t" "ldr %[A], %[xl]\n\t" "eor %[F], %[F], %[A]\n\t"                \
    "ldr %[pa], %[xp]\n\t" LOAD_PM                                                             \
    TREE8_ASM(L)                                                                               \
    "strd %[o], %[t], [%[pp]], #8\n\t" "strd %[f], %[e], [%[pp]], #12\n\t"                    \
    "ldr %[A], %[skip]\n\t" "add %[pb], %[pb], %[A]\n\t"                                       \
    "ldr %[A], %[ppend]\n\t" "cmp %[pp], %[A]\n\t" "bne 1b\n\t"
/* Phase 2 over a chunk of rows of nb > 1 blocks: blocks 1..nb-1 through the carry-save loop,
 * planes o, t, f updated in place, the counted carries (x 8) stored as the fifth word. */
#define BLOCK_ROWS_ASM(L, LOAD_PM)                                                             \
    "1:\n\t"                                                                                   \
    "ldr %[A], %[ppm]\n\t" "ldrd %[o], %[t], [%[A]]\n\t" "ldr %[f], [%[A], #8]\n\t"           \
    "ldr %[pa], %[xp8]\n\t" LOAD_PM "ldr %[end], %[span]\n\t" "add %[end], %[pa], %[end]\n\t" \
    "movs %[tot], #0\n\t"                                                                     \
    HS8_LOOP_ASM(L)                                                                            \
    "uxth %[B], %[tot]\n\t" "add %[tot], %[B], %[tot], lsr #16\n\t" "lsl %[tot], %[tot], #3\n\t" \
    "ldr %[A], %[ppm]\n\t" "strd %[o], %[t], [%[A]]\n\t" "str %[f], [%[A], #8]\n\t"           \
    "str %[tot], [%[A], #16]\n\t" "add %[A], %[A], #20\n\t" "str %[A], %[ppm]\n\t"           \
    "ldr %[B], %[skip2]\n\t" "add %[pb], %[pb], %[B]\n\t"                                     \
    "ldr %[B], %[ppend]\n\t" "cmp %[A], %[B]\n\t" "bne 1b\n\t"
#define TREE_OPS(ta) [lastoff] "m"((ta).lastoff), [mm] "m"((ta).mm), [xl] "m"((ta).xl), [skip] "m"((ta).skip), \
    [xp] "m"((ta).x), [mp] "m"((ta).m), [ppend] "m"((ta).ppend)
#define BLOCK_OPS(ta) [xp8] "m"((ta).x8p), [mp8] "m"((ta).m8p), [span] "m"((ta).span), \
    [skip2] "m"((ta).skip2), [ppend] "m"((ta).ppend)

/* Phase 3 over a chunk: out = bias - 2 (8 acc8 + planes summed), acc8 = 8 x the counted
 * carries (ACC: from an array, else 0). Per nibble ones + 2 twos (<= 12) and fours + 2 eights,
 * per byte (<= 120), one USAD(A)8. */
#define NIB_(v) "and %[s], %[m1], %[" v "], lsr #1\n\t" "sub %[" v "], %[" v "], %[s]\n\t"      \
    "and %[s], %[m2], %[" v "], lsr #2\n\t" "and %[" v "], %[" v "], %[m2]\n\t" "add %[" v "], %[" v "], %[s]\n\t"
#define SUM_ROWS_ASM(POST, SUM)                                                                \
    "1:\n\t"                                                                                   \
    "ldrd %[o], %[t], [%[pp]], #8\n\t" "ldrd %[f], %[e], [%[pp]], #" POST "\n\t"               \
    NIB_("o") NIB_("t") NIB_("f") NIB_("e")                                                    \
    "add %[o], %[o], %[t], lsl #1\n\t" "add %[f], %[f], %[e], lsl #1\n\t"                      \
    "and %[s], %[m4], %[o], lsr #4\n\t" "and %[o], %[o], %[m4]\n\t" "add %[o], %[o], %[s]\n\t" \
    "and %[s], %[m4], %[f], lsr #4\n\t" "and %[f], %[f], %[m4]\n\t" "add %[f], %[f], %[s]\n\t" \
    "add %[o], %[o], %[f], lsl #2\n\t" SUM                                                     \
    "sub %[o], %[bias], %[o], lsl #1\n\t" "str %[o], [%[out]], #4\n\t"                         \
    "cmp %[pp], %[end]\n\t" "bne 1b\n\t"
#define SUM_ACC "ldr %[s], [%[pp]], #4\n\t" "usada8 %[o], %[o], %[zero], %[s]\n\t"
#define SUM_NOACC "usad8 %[o], %[o], %[zero]\n\t"

#define ROWS_CHUNK 16u /* rows per pass (stack: 5 words each) */

/* out[o] = bias - 2 * popcount((x XOR w_o) AND m) over rows w_o of n words (m == NULL: no
 * mask), the last word also ANDed with last_mask (a row's K bits). nb blocks of 8 words that
 * need no last_mask go through the assembly: the first as an adder tree (phase 1, with the
 * last word as its ninth input), the others through the carry-save loop (phase 2). The other
 * leftover words ripple through the planes in pairs (C); rows of at most 15 words cannot
 * carry out of eights, so their carries join the eights plane, longer rows count them at
 * once. Phase 3 sums the planes. */
static inline __attribute__((always_inline)) void xnor_rows(const uint32_t *x, const uint32_t *w, const uint32_t *m,
                                                            uint32_t n, uint32_t last_mask, uint32_t n_rows,
                                                            int32_t bias, int32_t *out) {
    uint32_t full = last_mask == 0xFFFFFFFFu ? n : n - 1u, nb = full / 8u, lo_end = n - 1u;
    uint32_t x8_mask = nb && 8u * nb == n ? 0u : last_mask & (m ? m[lo_end] : 0xFFFFFFFFu);
    int leftovers = 8u * nb < lo_end, counted = nb > 1u || (leftovers && n > 15u);
    uint32_t planes[ROWS_CHUNK][5], o, t, f, e, c, tot, A, B, C, D, E, F;
    tree_args ta = {4u * lo_end, x8_mask, x[lo_end] & x8_mask, 4u * (n - 8u), 32u * (nb - 1u), 4u * (n - 8u * nb + 8u),
                    x, m, x + 8, m ? m + 8 : 0, 0, 0};
    for (uint32_t r0 = 0; r0 < n_rows; r0 += ROWS_CHUNK, w += ROWS_CHUNK * n, out += ROWS_CHUNK) {
        uint32_t rows = n_rows - r0 < ROWS_CHUNK ? n_rows - r0 : ROWS_CHUNK;
        const uint32_t *pa, *pb = w, *pm, *end;
        uint32_t *pp = planes[0];
        ta.ppend = planes[rows];
        if (nb) { /* phase 1 */
            if (m)
                __asm__ volatile(TREE_ROWS_ASM(MASK_, "ldr %[pm], %[mp]\n\t")
                                 : [o] "=&r"(o), [t] "=&r"(t), [f] "=&r"(f), [e] "=&r"(e), [pa] "=&r"(pa), [pb] "+r"(pb),
                                   [pm] "=&r"(pm), [pp] "+r"(pp), SCRATCH_OPS : TREE_OPS(ta) : "cc", "memory");
            else
                __asm__ volatile(TREE_ROWS_ASM(NO_MASK_, "")
                                 : [o] "=&r"(o), [t] "=&r"(t), [f] "=&r"(f), [e] "=&r"(e), [pa] "=&r"(pa), [pb] "+r"(pb),
                                   [pp] "+r"(pp), SCRATCH_OPS : TREE_OPS(ta) : "cc", "memory");
        } else {
            for (uint32_t r = 0; r < rows; r++) {
                planes[r][0] = (x[lo_end] ^ w[r * n + lo_end]) & x8_mask;
                planes[r][1] = planes[r][2] = planes[r][3] = planes[r][4] = 0;
            }
        }
        if (nb > 1u) { /* phase 2 */
            pb = w + 8;
            ta.pp = planes[0];
            if (m)
                __asm__ volatile(BLOCK_ROWS_ASM(MASK_, "ldr %[pm], %[mp8]\n\t")
                                 : [o] "=&r"(o), [t] "=&r"(t), [f] "=&r"(f), [tot] "=&r"(tot), [pa] "=&r"(pa), [pb] "+r"(pb),
                                   [pm] "=&r"(pm), [end] "=&r"(end), SCRATCH_OPS, [ppm] "+m"(ta.pp) : BLOCK_OPS(ta) : "cc", "memory");
            else
                __asm__ volatile(BLOCK_ROWS_ASM(NO_MASK_, "")
                                 : [o] "=&r"(o), [t] "=&r"(t), [f] "=&r"(f), [tot] "=&r"(tot), [pa] "=&r"(pa), [pb] "+r"(pb),
                                   [end] "=&r"(end), SCRATCH_OPS, [ppm] "+m"(ta.pp) : BLOCK_OPS(ta) : "cc", "memory");
        } else if (counted) {
            for (uint32_t r = 0; r < rows; r++) planes[r][4] = 0;
        }
        (void)pm;
        for (uint32_t r = 0; r < rows && leftovers; r++) { /* the leftover words ripple in pairs */
            const uint32_t *b = w + r * n;
            uint32_t *p = planes[r];
            o = p[0], t = p[1], f = p[2], e = p[3];
#define WORD(j) ((x[j] ^ b[j]) & (m ? m[j] : 0xFFFFFFFFu))
            for (uint32_t i = 8u * nb; i < lo_end; i += 2u) {
                if (i + 1u < lo_end) { CSA(c, o, o, WORD(i), WORD(i + 1u)); }
                else { HA(c, o, o, WORD(i)); }
                HA(c, t, t, c);
                HA(c, f, f, c);
                if (counted) p[4] += fb_pop32(c) << 3;
                else e |= c; /* at most 15 words: no carry out of the eights plane */
            }
#undef WORD
            p[0] = o, p[1] = t, p[2] = f, p[3] = e;
        }
        { /* phase 3 */
            uint32_t m1 = 0x55555555u, m2 = 0x33333333u, m4 = 0x0F0F0F0Fu, zero = 0, s_;
            const uint32_t *pq = planes[0], *pend = planes[rows];
            int32_t *po = out;
            if (counted)
                __asm__ volatile(SUM_ROWS_ASM("8", SUM_ACC)
                                 : [o] "=&r"(o), [t] "=&r"(t), [f] "=&r"(f), [e] "=&r"(e), [s] "=&r"(s_), [pp] "+r"(pq), [out] "+r"(po)
                                 : [end] "r"(pend), [bias] "r"(bias), [m1] "r"(m1), [m2] "r"(m2), [m4] "r"(m4), [zero] "r"(zero)
                                 : "cc", "memory");
            else
                __asm__ volatile(SUM_ROWS_ASM("12", SUM_NOACC)
                                 : [o] "=&r"(o), [t] "=&r"(t), [f] "=&r"(f), [e] "=&r"(e), [s] "=&r"(s_), [pp] "+r"(pq), [out] "+r"(po)
                                 : [end] "r"(pend), [bias] "r"(bias), [m1] "r"(m1), [m2] "r"(m2), [m4] "r"(m4), [zero] "r"(zero)
                                 : "cc", "memory");
        }
    }
}

/* ---- Cortex-M4/M7: rows of 16n words (K a multiple of 512), one pass per row ---------------------
 * Naked Thumb-2 with fixed registers: PW r0 (weights, all rows in turn), PX r1 (x, from the
 * start for each row), TOT r3 (16 x the counted sixteens carries), planes O r10 (ones), T r11
 * (twos), F r12 (fours), E lr (eights); r2, r4-r9 scratch. The carry-save adder works in
 * place without a scratch register: with l ^= a, a & ~l = a & l_old, and with l ^= b then,
 * b & ~l = b & (l_old ^ a), so
 *   CSA(l, a, b): l = l ^ a ^ b (sum), a = maj(l_old, a, b) (carry), b clobbered  (5 ops)
 * The first 16 words of a row go through an adder tree from empty planes (61 operations) to
 * O, T, F and two eights planes. Rows of 16 words (their own loop) sum these five planes per
 * nibble and byte with one USAD8. Longer rows add the eights planes (E and a sixteens carry),
 * then every further 16 words are one Harley-Seal block (15 adders) whose sixteens carry is
 * counted per byte (SWAR, x16) into TOT with USADA8; their four planes are summed like the
 * five, USADA8 adding TOT. d = popcount of the row. Per row of 16 words: 9 loads (LDM, LDRD),
 * 16 EOR, 61 for the tree, 41 for the sums, 6 for the output and the loop. */
#define FB_CSA(l, a, b) "eor " l ", " l ", " a "\n\t" "bic " a ", " a ", " l "\n\t" "eor " l ", " l ", " b "\n\t" \
    "bic " b ", " b ", " l "\n\t" "orr " a ", " a ", " b "\n\t"
/* x ^ w for 4 words: x by LDM into a, b, c, d (ascending registers), w by two LDRDs through s, t */
#define FB_XOR4(a, b, c, d, s, t) "ldm r1!, {" a ", " b ", " c ", " d "}\n\t"                       \
    "ldrd " s ", " t ", [r0], #8\n\t" "eor " a ", " a ", " s "\n\t" "eor " b ", " b ", " t "\n\t"   \
    "ldrd " s ", " t ", [r0], #8\n\t" "eor " c ", " c ", " s "\n\t" "eor " d ", " d ", " t "\n\t"
#define FB_XOR2(a, b, s, t) "ldrd " a ", " b ", [r1], #8\n\t" "ldrd " s ", " t ", [r0], #8\n\t"      \
    "eor " a ", " a ", " s "\n\t" "eor " b ", " b ", " t "\n\t"
/* v = 16 x the byte sums of popcount(v), t scratch: 2-bit and 4-bit sums (immediate masks),
 * then each byte's two nibbles added into its high nibble */
#define FB_POP16(v, t) "lsr " t ", " v ", #1\n\t" "and " t ", " t ", #0x55555555\n\t" "sub " v ", " v ", " t "\n\t" \
    "and " t ", " v ", #0x33333333\n\t" "lsr " v ", " v ", #2\n\t" "and " v ", " v ", #0x33333333\n\t"              \
    "add " v ", " v ", " t "\n\t" "add " v ", " v ", " v ", lsl #4\n\t" "and " v ", " v ", #0xF0F0F0F0\n\t"
/* v = 4-bit sums of popcount(v) (masks m1, m2 in registers, scratch r2); v = byte sums of v's nibbles (m4) */
#define FB_NIB(v, m1, m2) "and r2, " m1 ", " v ", lsr #1\n\t" "sub " v ", " v ", r2\n\t" "and r2, " m2 ", " v ", lsr #2\n\t" \
    "and " v ", " v ", " m2 "\n\t" "add " v ", " v ", r2\n\t"
#define FB_BYTES(v, m4) "and r2, " m4 ", " v ", lsr #4\n\t" "and " v ", " v ", " m4 "\n\t" "add " v ", " v ", r2\n\t"

typedef struct {
    const uint32_t *x;
    uint32_t m1, m2, m4;
    int32_t bias;
    int32_t *out;
    const uint32_t *w_end, *x_end;
    const uint32_t *w;
} rows16_args;
/* frame: the first 8 fields; one LDM of {x, m1, m2, m4, bias, out} serves the epilogue and
 * the next row's start */
#define ROWS16_FRAME "32"
/* adder tree of words 0-15 of a row: O r10, T r11, F r12, eights lr and r4 */
#define ROWS16_TREE                                                                                     \
    "ldm r1!, {r2, r4, r5, r6}\n\t" "ldm r0!, {r7, r8, r9, r10}\n\t"                                    \
    "eor r2, r2, r7\n\t" "eor r4, r4, r8\n\t" "eor r5, r5, r9\n\t" "eor r6, r6, r10\n\t"                \
    "eor r10, r2, r4\n\t" "and r2, r2, r4\n\t"                                                          \
    FB_CSA("r10", "r5", "r6")                                                                           \
    "eor r11, r2, r5\n\t" "and r2, r2, r5\n\t"                                                          \
    "ldm r1!, {r4, r5, r6, r7}\n\t" "ldm r0!, {r8, r9, r12, lr}\n\t"                                    \
    "eor r4, r4, r8\n\t" "eor r5, r5, r9\n\t" "eor r6, r6, r12\n\t" "eor r7, r7, lr\n\t"                \
    FB_CSA("r10", "r4", "r5") FB_CSA("r10", "r6", "r7") FB_CSA("r11", "r4", "r6")                      \
    "eor r12, r2, r4\n\t" "and lr, r2, r4\n\t"                                                          \
    "ldm r1!, {r4, r5, r6, r7}\n\t" "ldm r0!, {r2, r3, r8, r9}\n\t"                                     \
    "eor r4, r4, r2\n\t" "eor r5, r5, r3\n\t" "eor r6, r6, r8\n\t" "eor r7, r7, r9\n\t"                 \
    FB_CSA("r10", "r4", "r5") FB_CSA("r10", "r6", "r7") FB_CSA("r11", "r4", "r6")                      \
    FB_XOR4("r5", "r6", "r7", "r8", "r3", "r9")                                                         \
    FB_CSA("r10", "r5", "r6") FB_CSA("r10", "r7", "r8") FB_CSA("r11", "r5", "r7")                      \
    FB_CSA("r12", "r4", "r5")
/* out = bias - 2d (d in r3, bias in b, out pointer in o), next row (label l) or return */
#define ROWS16_OUT(b, o, l) "sub r3, " b ", r3, lsl #1\n\t" "str r3, [" o "], #4\n\t" "str " o ", [sp, #20]\n\t" \
    "ldr r2, [sp, #24]\n\t" "cmp r0, r2\n\t" "bne " l "\n\t" "add sp, #" ROWS16_FRAME "\n\t" "pop {r4-r11, pc}\n\t"

/* out[r] = bias - 2 popcount(x XOR w_r) for rows of x_end - x words (a multiple of 16). */
static void __attribute__((naked, noinline)) xnor_rows16(const rows16_args *a) {
    __asm__ volatile(
        "push {r4-r11, lr}\n\t"
        "sub sp, #" ROWS16_FRAME "\n\t"
        "ldm r0!, {r1-r8}\n\t"
        "stm sp, {r1-r8}\n\t"
        "ldr r0, [r0]\n\t"
        "sub r8, r8, r1\n\t" "cmp r8, #64\n\t" "bne 2f\n\t"
        /* rows of 16 words: d = O + 2T + 4F + 8 (lr + r4) */
        "1:\n\t"
        ROWS16_TREE
        "ldm sp, {r1, r5, r6, r7, r8, r9}\n\t"
        FB_NIB("r10", "r5", "r6") FB_NIB("r11", "r5", "r6") FB_NIB("r12", "r5", "r6") FB_NIB("lr", "r5", "r6")
        FB_NIB("r4", "r5", "r6")
        "add r10, r10, r11, lsl #1\n\t" "add r12, r12, lr, lsl #1\n\t"
        FB_BYTES("r10", "r7") FB_BYTES("r12", "r7") FB_BYTES("r4", "r7")
        "add r10, r10, r12, lsl #2\n\t" "add r10, r10, r4, lsl #3\n\t"
        "mov r2, #0\n\t" "usad8 r3, r10, r2\n\t"
        ROWS16_OUT("r8", "r9", "1b")
        /* longer rows: E, TOT = 16 popcount(sixteens), then Harley-Seal blocks of 16 words */
        "2:\n\t"
        ROWS16_TREE
        "eor lr, lr, r4\n\t" "bic r4, r4, lr\n\t"
        FB_POP16("r4", "r2") "mov r2, #0\n\t" "usad8 r3, r4, r2\n\t"
        "3:\n\t"
        FB_XOR4("r4", "r5", "r6", "r7", "r8", "r9")
        FB_CSA("r10", "r4", "r5") FB_CSA("r10", "r6", "r7") FB_CSA("r11", "r4", "r6")
        FB_XOR4("r5", "r6", "r7", "r8", "r2", "r9")
        FB_CSA("r10", "r5", "r6") FB_CSA("r10", "r7", "r8") FB_CSA("r11", "r5", "r7") FB_CSA("r12", "r4", "r5")
        FB_XOR4("r5", "r6", "r7", "r8", "r2", "r9")
        FB_CSA("r10", "r5", "r6") FB_CSA("r10", "r7", "r8") FB_CSA("r11", "r5", "r7")
        FB_XOR2("r6", "r7", "r2", "r8") FB_CSA("r10", "r6", "r7")
        FB_XOR2("r7", "r8", "r2", "r9") FB_CSA("r10", "r7", "r8")
        FB_CSA("r11", "r6", "r7") FB_CSA("r12", "r5", "r6") FB_CSA("lr", "r4", "r5")
        FB_POP16("r4", "r2") "mov r2, #0\n\t" "usada8 r3, r4, r2, r3\n\t"
        "ldr r2, [sp, #28]\n\t" "cmp r1, r2\n\t" "bne 3b\n\t"
        /* d = O + 2T + 4F + 8E + TOT */
        "ldm sp, {r1, r4, r5, r6, r7, r8}\n\t"
        FB_NIB("r10", "r4", "r5") FB_NIB("r11", "r4", "r5") FB_NIB("r12", "r4", "r5") FB_NIB("lr", "r4", "r5")
        "add r10, r10, r11, lsl #1\n\t" "add r12, r12, lr, lsl #1\n\t"
        FB_BYTES("r10", "r6") FB_BYTES("r12", "r6")
        "add r10, r10, r12, lsl #2\n\t" "mov r2, #0\n\t" "usada8 r3, r10, r2, r3\n\t"
        ROWS16_OUT("r7", "r8", "2b"));
}

/* ---- Cortex-M4/M7: rows of 8 words (K = 256), two rows per turn ---------------------------------
 * x ^ w of a row in r3-r10 (x by one LDM from r0, w by two from r1), then an adder tree that
 * stops where the nibble sums are cheapest: the ones chain (three adders and a half adder)
 * leaves O in r3 and four twos carries; one adder of three of them leaves a twos plane in r4
 * and a fours plane in r6, the fourth carry stays in r10: d = O + 2 r4 + 2 r10 + 4 r6, and
 * O + 2 r4 and r10 + 2 r6 each fit a nibble (<= 12) after FB_NIB. 22 operations (a full tree
 * to O, T, F, E takes 26, and leaves four planes to sum as well). */
#define ROWS8_TREE                                                                                      \
    "ldm r0, {r3-r10}\n\t"                                                                              \
    "ldm r1!, {r2, r11, r12, lr}\n\t"                                                                   \
    "eor r3, r3, r2\n\t" "eor r4, r4, r11\n\t" "eor r5, r5, r12\n\t" "eor r6, r6, lr\n\t"              \
    "ldm r1!, {r2, r11, r12, lr}\n\t"                                                                   \
    "eor r7, r7, r2\n\t" "eor r8, r8, r11\n\t" "eor r9, r9, r12\n\t" "eor r10, r10, lr\n\t"            \
    FB_CSA("r3", "r4", "r5") FB_CSA("r3", "r6", "r7") FB_CSA("r3", "r8", "r9")                          \
    "eor r3, r3, r10\n\t" "bic r10, r10, r3\n\t"                                                        \
    FB_CSA("r4", "r6", "r8")
/* r3 = 256 - 2d: the frame {x, m1, m2, 0x1E1E1E1E, -320, out, w_end, 0x90909090} reloaded into
 * r0 and r5-lr (out r11, w_end r12); the four planes summed per nibble, then per byte as twice
 * the byte's two nibbles (((v >> 3) & 0x1E..) + 2 (v & 0x0F..)). The four bytes then hold 2d
 * in all, each at most 128 (a byte covers 8 bit positions of 8 words), so one USADA8 against
 * bytes of 144, from -320, gives -320 + 4 * 144 - 2d = 256 - 2d. */
#define ROWS8_SUM                                                                                       \
    "ldm sp, {r0, r5, r7, r8, r9, r11, r12, lr}\n\t"                                                    \
    FB_NIB("r3", "r5", "r7") FB_NIB("r4", "r5", "r7") FB_NIB("r10", "r5", "r7") FB_NIB("r6", "r5", "r7") \
    "add r3, r3, r4, lsl #1\n\t" "add r10, r10, r6, lsl #1\n\t"                                        \
    "and r2, r8, r3, lsr #3\n\t" "and r3, r3, #0x0F0F0F0F\n\t" "add r3, r2, r3, lsl #1\n\t"            \
    "and r2, r8, r10, lsr #3\n\t" "and r10, r10, #0x0F0F0F0F\n\t" "add r10, r2, r10, lsl #1\n\t"       \
    "add r3, r3, r10, lsl #1\n\t" "usada8 r3, r3, lr, r9\n\t"

/* out[r] = 256 - 2 popcount(x XOR w_r) over n_out >= 1 rows of 8 words. Per row: 3 loads,
 * 8 EOR, 22 for the tree, 31 for the frame reload, the sums and 256 - 2d; per two rows 4 for
 * the two stores and the out pointer, 2 for the loop (67 per row). An odd count enters at the
 * second half with out one word early in the frame. */
static void __attribute__((naked, noinline)) xnor_rows8(const uint32_t *x, const uint32_t *w, uint32_t n_out, int32_t *out) {
    __asm__ volatile(
        "push {r4-r11, lr}\n\t"
        "add r9, r1, r2, lsl #5\n\t" "mov r8, r3\n\t"
        "mov r4, #0x55555555\n\t" "mov r5, #0x33333333\n\t" "mov r6, #0x1E1E1E1E\n\t" "mov r7, #320\n\t" "rsb r7, r7, #0\n\t"
        "mov r10, #0x90909090\n\t"
        "lsrs r2, r2, #1\n\t" "it cs\n\t" "subcs r8, r8, #4\n\t"
        "push {r0, r4-r10}\n\t"
        "bcs 2f\n\t"
        "1:\n\t"
        ROWS8_TREE ROWS8_SUM
        "str r3, [r11]\n\t"
        "2:\n\t"
        ROWS8_TREE ROWS8_SUM
        "str r3, [r11, #4]\n\t" "add r11, r11, #8\n\t" "str r11, [sp, #20]\n\t"
        "cmp r1, r12\n\t" "bne 1b\n\t"
        "add sp, #32\n\t" "pop {r4-r11, pc}\n\t");
}

#else
/* ---- hosts (and other targets): 64-bit popcounts over pairs of words, AVX2 where compiled in */

static inline uint64_t row_tail(const uint32_t *x, const uint32_t *w, const uint32_t *m, uint32_t j, uint32_t full,
                                uint32_t n, uint32_t last_mask) { /* words j..n-1 */
    uint64_t d = 0;
    for (; j + 2u <= full; j += 2u) d += pop64((load64(x + j) ^ load64(w + j)) & (m ? load64(m + j) : ~(uint64_t)0));
    if (j < full) d += fb_pop32((x[j] ^ w[j]) & (m ? m[j] : 0xFFFFFFFFu));
    if (full < n) d += fb_pop32((x[full] ^ w[full]) & last_mask & (m ? m[full] : 0xFFFFFFFFu));
    return d;
}

#if defined(__AVX2__)
#include <immintrin.h>
/* Byte-wise popcount of a 256-bit vector through a 16-entry nibble table (VPSHUFB). */
static inline __m256i byte_counts(__m256i d) {
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                         0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0F);
    return _mm256_add_epi8(_mm256_shuffle_epi8(lut, _mm256_and_si256(d, low)),
                           _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(d, 4), low)));
}
static inline __m256i xor_vec(const uint32_t *x, const uint32_t *w, const uint32_t *m, uint32_t v) {
    __m256i d = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(x + 8u * v)), _mm256_loadu_si256((const __m256i *)(w + 8u * v)));
    return m ? _mm256_and_si256(d, _mm256_loadu_si256((const __m256i *)(m + 8u * v))) : d;
}
/* popcount of ((x XOR w_r) AND m) over the first 8*nv words of 4 rows w_r = w + r*n, nv <= 31
 * (byte counts <= 248): byte counts per row, one VPSADBW per row, then the four rows' 64-bit
 * lane sums are packed as 32-bit pairs and added across lanes at once [Mula et al. 2018]. */
static inline __m128i pop4_avx2(const uint32_t *x, const uint32_t *w, uint32_t n, const uint32_t *m, uint32_t nv) {
    __m256i b0 = _mm256_setzero_si256(), b1 = b0, b2 = b0, b3 = b0, z = b0;
    for (uint32_t v = 0; v < nv; v++) {
        b0 = _mm256_add_epi8(b0, byte_counts(xor_vec(x, w, m, v)));
        b1 = _mm256_add_epi8(b1, byte_counts(xor_vec(x, w + n, m, v)));
        b2 = _mm256_add_epi8(b2, byte_counts(xor_vec(x, w + 2u * n, m, v)));
        b3 = _mm256_add_epi8(b3, byte_counts(xor_vec(x, w + 3u * n, m, v)));
    }
    __m256i t01 = _mm256_or_si256(_mm256_sad_epu8(b0, z), _mm256_slli_epi64(_mm256_sad_epu8(b1, z), 32));
    __m256i t23 = _mm256_or_si256(_mm256_sad_epu8(b2, z), _mm256_slli_epi64(_mm256_sad_epu8(b3, z), 32));
    __m256i u = _mm256_add_epi32(_mm256_unpacklo_epi64(t01, t23), _mm256_unpackhi_epi64(t01, t23));
    return _mm_add_epi32(_mm256_castsi256_si128(u), _mm256_extracti128_si256(u, 1));
}
#define FB_VECTOR_CHUNK 31u /* vectors per byte-count pass */
#endif

/* out[o] = bias - 2 * popcount((x XOR w_o) AND m) over rows w_o of n words (m == NULL: no
 * mask), the last word also ANDed with last_mask (a row's K bits). With AVX2, rows of at least
 * 8 such words go 4 at a time through pop4_avx2, the rest of each row through 64-bit popcounts. */
static inline __attribute__((always_inline)) void xnor_rows(const uint32_t *x, const uint32_t *w, const uint32_t *m,
                                                            uint32_t n, uint32_t last_mask, uint32_t n_rows,
                                                            int32_t bias, int32_t *out) {
    uint32_t full = last_mask == 0xFFFFFFFFu ? n : n - 1u, r = 0; /* words that need no last_mask */
#if defined(__AVX2__)
    uint32_t nv = full / 8u;
    if (nv)
        for (; r + 4u <= n_rows; r += 4u, w += 4u * n) {
            __m128i d = _mm_setzero_si128();
            for (uint32_t v = 0; v < nv; v += FB_VECTOR_CHUNK) {
                uint32_t k = nv - v < FB_VECTOR_CHUNK ? nv - v : FB_VECTOR_CHUNK;
                d = _mm_add_epi32(d, pop4_avx2(x + 8u * v, w + 8u * v, n, m ? m + 8u * v : 0, k));
            }
            int32_t dd[4];
            _mm_storeu_si128((__m128i *)dd, d);
            for (uint32_t i = 0; i < 4u; i++)
                out[r + i] = bias - 2 * (int32_t)(dd[i] + row_tail(x, w + i * n, m, 8u * nv, full, n, last_mask));
        }
#endif
    for (; r < n_rows; r++, w += n) out[r] = bias - 2 * (int32_t)row_tail(x, w, m, 0, full, n, last_mask);
}
#endif

/* Out of line, so that the calls of the assembly kernels do not pay for xnor_rows' frame. */
static void __attribute__((noinline)) fc_rows(const uint32_t *x, const uint32_t *w, uint32_t k, uint32_t n_out, int32_t *out) {
    xnor_rows(x, w, 0, fb_words(k), tail_mask(k), n_out, (int32_t)k, out);
}

#if defined(__thumb2__) && defined(__ARM_FEATURE_DSP)
/* Out of line, so that fb_bin_fc_fast needs no frame and reaches xnor_rows8 by a tail call. */
static void __attribute__((noinline)) fc_rows16(const uint32_t *x, const uint32_t *w, uint32_t k, uint32_t n_out, int32_t *out) {
    uint32_t n = k / 32u;
    rows16_args a = {x, 0x55555555u, 0x33333333u, 0x0F0F0F0Fu, (int32_t)k, out, w + n_out * n, x + n, w};
    xnor_rows16(&a);
}
#endif

void fb_bin_fc_fast(const uint32_t *x, const uint32_t *w, uint32_t k, uint32_t n_out, int32_t *out) {
#if defined(__thumb2__) && defined(__ARM_FEATURE_DSP)
    if (n_out && k == 256u) {
        xnor_rows8(x, w, n_out, out);
        return;
    }
    if (n_out && !(k & 511u)) {
        fc_rows16(x, w, k, n_out, out);
        return;
    }
#endif
    fc_rows(x, w, k, n_out, out);
}

/* --- bit-stream helpers (reads never pass the last word holding a bit) ---------------------- */
/* OR n bits of src from bit soff into the pre-zeroed dst from bit doff. */
static void copy_bits(uint32_t *dst, uint32_t doff, const uint32_t *src, uint32_t soff, uint32_t n) {
    while (n) {
        uint32_t m = n < 32u ? n : 32u, sh = soff & 31u, si = soff >> 5, dsh = doff & 31u, di = doff >> 5;
        uint32_t v = src[si] >> sh;
        if (sh && m > 32u - sh) v |= src[si + 1] << (32u - sh);
        if (m < 32u) v &= (1u << m) - 1u;
        dst[di] |= v << dsh;
        if (dsh && m > 32u - dsh) dst[di + 1] |= v >> (32u - dsh);
        soff += m;
        doff += m;
        n -= m;
    }
}

/* Sequential bit writer: every bit of the destination is written once, in order, so nothing
 * needs clearing first; bits of the last word past the end are 0. */
typedef struct { uint32_t *dst, acc, fill; } bit_writer;

static inline __attribute__((always_inline)) void put_word(bit_writer *bw, uint32_t v, uint32_t m) { /* m <= 32 bits, v's bits past m are 0 */
    bw->acc |= v << bw->fill;
    bw->fill += m;
    if (bw->fill >= 32u) {
        *bw->dst++ = bw->acc;
        bw->fill -= 32u;
        bw->acc = bw->fill ? v >> (m - bw->fill) : 0u;
    }
}
static inline __attribute__((always_inline)) void put_bits(bit_writer *bw, const uint32_t *src, uint32_t soff, uint32_t n) {
    if (!bw->fill && !(soff & 31u)) /* both word-aligned: whole words are copies */
        for (const uint32_t *sp = src + (soff >> 5); n >= 32u; n -= 32u, soff += 32u) *bw->dst++ = *sp++;
    while (n) {
        uint32_t m = n < 32u ? n : 32u, sh = soff & 31u, si = soff >> 5;
        uint32_t v = src[si] >> sh;
        if (sh && m > 32u - sh) v |= src[si + 1] << (32u - sh);
        if (m < 32u) v &= (1u << m) - 1u;
        put_word(bw, v, m);
        soff += m;
        n -= m;
    }
}
static inline __attribute__((always_inline)) void put_const(bit_writer *bw, uint32_t ones, uint32_t n) { /* n bits, all 0 or all 1 */
    while (n) {
        uint32_t m = n < 32u ? n : 32u;
        put_word(bw, ones ? (m < 32u ? (1u << m) - 1u : 0xFFFFFFFFu) : 0u, m);
        n -= m;
    }
}
static inline void flush_bits(bit_writer *bw) { if (bw->fill) *bw->dst = bw->acc; }

/* 32x32 bit transpose in place: bit j of a[i] <-> bit i of a[j]. Five rounds swap the
 * off-diagonal j x j blocks, j = 16, 8, 4, 2, 1 [Warren, Hacker's Delight 7-3]; constant
 * shifts per round. */
#define TRANSPOSE_ROUND(a, j, m)                                                        \
    for (uint32_t *p_ = (a); p_ < (a) + 32; p_ += 2u * (j))                             \
        for (uint32_t i_ = 0; i_ < (j); i_++) {                                         \
            uint32_t t_ = ((p_[i_] >> (j)) ^ p_[i_ + (j)]) & (m);                        \
            p_[i_ + (j)] ^= t_;                                                         \
            p_[i_] ^= t_ << (j);                                                        \
        }
static void transpose32(uint32_t *a) {
    TRANSPOSE_ROUND(a, 16u, 0x0000FFFFu)
    TRANSPOSE_ROUND(a, 8u, 0x00FF00FFu)
    TRANSPOSE_ROUND(a, 4u, 0x0F0F0F0Fu)
    TRANSPOSE_ROUND(a, 2u, 0x33333333u)
    TRANSPOSE_ROUND(a, 1u, 0x55555555u)
}

/* HWC bit stream (hw pixels of c channels) -> CHW: out bit ch*hw + p = x bit p*c + ch, tail
 * bits 0. Blocks of 32 pixels x 32 channels through transpose32; whole words are loaded and
 * stored directly where c (reads) or hw (writes) is a multiple of 32. */
void fb_bin_hwc_to_chw(const uint32_t *x, uint32_t hw, uint32_t c, uint32_t *out) {
    uint32_t blk[32], aligned_out = !(hw & 31u);
    for (uint32_t i = 0; !aligned_out && i < fb_words(hw * c); i++) out[i] = 0;
    for (uint32_t c0 = 0; c0 < c; c0 += 32u) {
        uint32_t nc = c - c0 < 32u ? c - c0 : 32u;
        for (uint32_t p0 = 0; p0 < hw; p0 += 32u) {
            uint32_t np = hw - p0 < 32u ? hw - p0 : 32u, i = 0;
            if (!(c & 31u))
                for (const uint32_t *src = x + (p0 * c + c0) / 32u; i < np; i++, src += c / 32u) blk[i] = *src;
            else
                for (uint32_t off = p0 * c + c0; i < np; i++, off += c) { /* nc bits from bit off */
                    uint32_t si = off >> 5, sh = off & 31u, v = x[si] >> sh;
                    if (sh && sh + nc > 32u) v |= x[si + 1u] << (32u - sh);
                    blk[i] = nc < 32u ? v & ((1u << nc) - 1u) : v;
                }
            for (; i < 32u; i++) blk[i] = 0;
            transpose32(blk); /* row j: channel c0 + j, np bits, the rest 0 */
            for (uint32_t j = 0, off = c0 * hw + p0; j < nc; j++, off += hw) {
                uint32_t di = off >> 5, sh = off & 31u;
                if (aligned_out) {
                    out[di] = blk[j];
                    continue;
                }
                out[di] |= blk[j] << sh;
                if (sh && sh + np > 32u) out[di + 1u] |= blk[j] >> (32u - sh);
            }
        }
    }
}

/* The taps of output pixel (oy, ox) that fall inside the input: rows [y0, y1), cols [x0, x1). */
typedef struct { uint32_t y0, y1, x0, x1; int32_t iy, ix; } taps;
static uint32_t clampi(int32_t v, int32_t lo, int32_t hi) { return (uint32_t)(v < lo ? lo : v > hi ? hi : v); }
static taps valid_taps(const fb_conv_shape *s, uint32_t oy, uint32_t ox) {
    taps t;
    t.iy = (int32_t)(oy * s->stride) - s->pad;
    t.ix = (int32_t)(ox * s->stride) - s->pad;
    t.y0 = clampi(-t.iy, 0, s->kh); /* padding wider than the kernel: possibly no valid tap */
    t.x0 = clampi(-t.ix, 0, s->kw);
    t.y1 = clampi((int32_t)s->in_h - t.iy, (int32_t)t.y0, s->kh);
    t.x1 = clampi((int32_t)s->in_w - t.ix, (int32_t)t.x0, s->kw);
    return t;
}

/* Binary im2col of one pixel: patch bit (ky*kw + kx)*c + ch = input bit at (iy+ky, ix+kx, ch),
 * 0 outside the input; with mask, also mask bit = 1 where the tap is inside. Every word of
 * the patch is written once (no clearing). Channels in whole words: tap rows (interior) or
 * taps (border) are word copies; otherwise a bit stream. */
static void im2col_bin(const uint32_t *x, const fb_conv_shape *s, const taps *t, uint32_t *patch, uint32_t *mask) {
    uint32_t c = s->in_c, row = (uint32_t)s->kw * c;
    if (!(c & 31u)) {
        uint32_t cw = c >> 5;
        if (t->y0 == 0 && t->x0 == 0 && t->y1 == s->kh && t->x1 == s->kw) { /* interior: tap rows */
            const uint32_t *src = x + ((uint32_t)t->iy * s->in_w + (uint32_t)t->ix) * cw;
            for (uint32_t ky = 0; ky < s->kh; ky++, src += (uint32_t)s->in_w * cw)
                for (uint32_t j = 0; j < row >> 5; j++) *patch++ = src[j];
            return;
        }
        for (uint32_t ky = 0; ky < s->kh; ky++)
            for (uint32_t kx = 0; kx < s->kw; kx++) {
                int in = ky >= t->y0 && ky < t->y1 && kx >= t->x0 && kx < t->x1;
                const uint32_t *src = in ? x + ((uint32_t)(t->iy + (int32_t)ky) * s->in_w + (uint32_t)(t->ix + (int32_t)kx)) * cw : 0;
                for (uint32_t j = 0; j < cw; j++) {
                    *patch++ = in ? src[j] : 0u;
                    if (mask) *mask++ = in ? 0xFFFFFFFFu : 0u;
                }
            }
        return;
    }
    bit_writer p = {patch, 0, 0}, mk = {mask, 0, 0};
    for (uint32_t ky = 0; ky < s->kh; ky++) {
        if (ky < t->y0 || ky >= t->y1) {
            put_const(&p, 0, row);
            if (mask) put_const(&mk, 0, row);
            continue;
        }
        uint32_t src = ((uint32_t)(t->iy + (int32_t)ky) * s->in_w + (uint32_t)(t->ix + (int32_t)t->x0)) * c;
        put_const(&p, 0, t->x0 * c);
        put_bits(&p, x, src, (t->x1 - t->x0) * c);
        put_const(&p, 0, (s->kw - t->x1) * c);
        if (mask) {
            put_const(&mk, 0, t->x0 * c);
            put_const(&mk, 1, (t->x1 - t->x0) * c);
            put_const(&mk, 0, (s->kw - t->x1) * c);
        }
    }
    flush_bits(&p);
    if (mask) flush_bits(&mk);
}

uint32_t fb_bin_conv_buffer_size(const fb_conv_shape *s) { return 2u * fb_words(fb_conv_k(s)); }

/* Interior pixels: z = K - 2 popcount(patch XOR w). Border pixels: only the taps inside count,
 * z = valid - 2 popcount((patch XOR w) AND mask); a bit-stream mask is rebuilt only when the
 * border pattern changes. */
void fb_bin_conv_fast(const uint32_t *x, const fb_conv_shape *s, const uint32_t *w, int32_t *out, uint32_t *buf) {
    uint32_t oh = fb_conv_out_h(s), ow = fb_conv_out_w(s), k = fb_conv_k(s), wpr = fb_words(k), c = s->in_c;
    uint32_t *patch = buf, *mask = buf + wpr;
    taps last = {0, 0, 0, 0, 0, 0};
    int have_mask = 0;
    for (uint32_t oy = 0; oy < oh; oy++)
        for (uint32_t ox = 0; ox < ow; ox++) {
            taps t = valid_taps(s, oy, ox);
            int32_t *o_px = out + (oy * ow + ox) * s->out_c;
            if (t.y0 == 0 && t.x0 == 0 && t.y1 == s->kh && t.x1 == s->kw) {
                im2col_bin(x, s, &t, patch, 0);
                xnor_rows(patch, w, 0, wpr, tail_mask(k), s->out_c, (int32_t)k, o_px);
                continue;
            }
            int same = have_mask && (c & 31u) && t.y0 == last.y0 && t.y1 == last.y1 && t.x0 == last.x0 && t.x1 == last.x1;
            im2col_bin(x, s, &t, patch, same ? 0 : mask);
            last = t;
            have_mask = 1;
            int32_t valid = (int32_t)((t.y1 - t.y0) * (t.x1 - t.x0) * c);
            xnor_rows(patch, w, mask, wpr, 0xFFFFFFFFu, s->out_c, valid, o_px);
        }
}

/* --- binary conv bit-sliced over output channels (kernels.h fb_bin_conv_sliced) ----------------
 * Counter of 32 lanes (one per output channel of a group) in Harley-Seal form: planes O, T, F, E
 * (weights 1, 2, 4, 8) and, per block of 16 input bits, the sixteens carry ("s-word"). A
 * pixel's input bits come as slots: one word per 16 bits, bit 31 first (bit-reversed), so a
 * block broadcasts bit 31 of its slot and shifts it left. The s-word of the block at slot i
 * goes to svec[i]. */

/* l = l ^ a ^ b, returns the carry maj(l, a, b) */
static inline uint32_t csa(uint32_t *l, uint32_t a, uint32_t b) {
    uint32_t u = *l ^ a, h = (*l & a) | (u & b);
    *l = u ^ b;
    return h;
}

/* pl[0..3] (O, T, F, E) += the 16 words d; returns the sixteens carry [Harley and Seal] */
static uint32_t hs16(uint32_t *pl, const uint32_t *d) {
    uint32_t o = pl[0], t = pl[1], f = pl[2], e = pl[3], ei[2];
    for (uint32_t h = 0; h < 2u; h++, d += 8) {
        uint32_t fo0 = csa(&t, csa(&o, d[0], d[1]), csa(&o, d[2], d[3]));
        uint32_t fo1 = csa(&t, csa(&o, d[4], d[5]), csa(&o, d[6], d[7]));
        ei[h] = csa(&f, fo0, fo1);
    }
    uint32_t s = csa(&e, ei[0], ei[1]);
    pl[0] = o, pl[1] = t, pl[2] = f, pl[3] = e;
    return s;
}

/* bit-sliced p[0..] += c (a 0/1 per lane), carries rippled up */
static inline void ripple(uint32_t *p, uint32_t c) {
    for (; c; p++) {
        uint32_t t = *p & c;
        *p ^= c;
        c = t;
    }
}

static inline uint32_t bitrev32(uint32_t v) {
#if defined(__thumb2__)
    __asm__("rbit %0, %1" : "=r"(v) : "r"(v));
    return v;
#else
    v = ((v >> 1) & 0x55555555u) | ((v & 0x55555555u) << 1);
    v = ((v >> 2) & 0x33333333u) | ((v & 0x33333333u) << 2);
    v = ((v >> 4) & 0x0F0F0F0Fu) | ((v & 0x0F0F0F0Fu) << 4);
    v = ((v >> 8) & 0x00FF00FFu) | ((v & 0x00FF00FFu) << 8);
    return (v >> 16) | (v << 16);
#endif
}

typedef struct {
    const uint32_t *wt;    /* weight word of the block's first input bit */
    const uint32_t *slot;  /* the block's first slot */
    const uint32_t *end;   /* slot after the last block */
    uint32_t soff;         /* 4 (svec - slots) - 4: from a slot's address + 4 to its s-word */
    uint32_t *planes;      /* O, T, F, E, in and out */
} sliced_args;

#if defined(FB_CONV_SLICED)
/* Cortex-M4: the blocks in Thumb-2 (naked, fixed registers): PW r0, slot pointer r1, end r2,
 * soff r3, slot bits r4, planes O r10, T r11, F r12, E lr, r5-r9 scratch. Per block: one LDR
 * of the slot, 8 LDRD, 2 x 16 - 1 for the broadcasts (EOR with the slot ASR #31, LSL), 15
 * in-place adders (FB_CSA), one STR of the s-word: 118 instructions for 16 input bits. */
#define FB_BCAST2(a, b) "ldrd " a ", " b ", [r0], #8\n\t" "eor " a ", " a ", r4, asr #31\n\t" "lsl r4, r4, #1\n\t" \
    "eor " b ", " b ", r4, asr #31\n\t" "lsl r4, r4, #1\n\t"
static void __attribute__((naked, noinline)) sliced_blocks(const sliced_args *a) {
    __asm__ volatile(
        "push {r4-r11, lr}\n\t"
        "ldr r4, [r0, #16]\n\t" "push {r4}\n\t"
        "ldm r4, {r10, r11, r12, lr}\n\t"
        "ldm r0, {r0, r1, r2, r3}\n\t"
        "1:\n\t"
        "ldr r4, [r1], #4\n\t"
        FB_BCAST2("r5", "r6") FB_CSA("r10", "r5", "r6")
        FB_BCAST2("r6", "r7") FB_CSA("r10", "r6", "r7") FB_CSA("r11", "r5", "r6")
        FB_BCAST2("r6", "r7") FB_CSA("r10", "r6", "r7")
        FB_BCAST2("r7", "r8") FB_CSA("r10", "r7", "r8") FB_CSA("r11", "r6", "r7") FB_CSA("r12", "r5", "r6")
        FB_BCAST2("r6", "r7") FB_CSA("r10", "r6", "r7")
        FB_BCAST2("r7", "r8") FB_CSA("r10", "r7", "r8") FB_CSA("r11", "r6", "r7")
        FB_BCAST2("r7", "r8") FB_CSA("r10", "r7", "r8")
        "ldrd r8, r9, [r0], #8\n\t" "eor r8, r8, r4, asr #31\n\t" "lsl r4, r4, #1\n\t" "eor r9, r9, r4, asr #31\n\t"
        FB_CSA("r10", "r8", "r9") FB_CSA("r11", "r7", "r8") FB_CSA("r12", "r6", "r7") FB_CSA("lr", "r5", "r6")
        "str r5, [r1, r3]\n\t"
        "cmp r1, r2\n\t" "bne 1b\n\t"
        "pop {r4}\n\t"
        "stm r4, {r10, r11, r12, lr}\n\t"
        "pop {r4-r11, pc}\n\t");
}
#endif

/* blocks from a->slot to a->end, s-words to svec (a->soff + 4 bytes after their slot) */
static void run_blocks(const sliced_args *a, uint32_t *svec, const uint32_t *slots) {
    if (a->slot == a->end) return;
#if defined(FB_CONV_SLICED)
    sliced_blocks(a);
#else
    const uint32_t *wt = a->wt;
    for (const uint32_t *sl = a->slot; sl < a->end; sl++, wt += 16) {
        uint32_t d[16];
        for (uint32_t j = 0; j < 16u; j++) d[j] = wt[j] ^ (0u - ((*sl >> (31u - j)) & 1u));
        svec[sl - slots] = hs16(a->planes, d);
    }
#endif
}

/* The counter's start of one group, 2m words: for lanes o, with U = K - tau[o] clamped to
 * [-1, 2K] (beyond it the decision no longer changes), B_par = 2^(m-1) - T_par, T_even =
 * floor(U/2) + 1, T_odd = floor((U-1)/2) + 1, bit-sliced (B_even planes, then B_odd). */
static void sliced_starts(const int32_t *tau, uint32_t lanes, uint32_t k, uint32_t m, uint32_t *b) {
    for (uint32_t i = 0; i < 2u * m; i++) b[i] = 0;
    for (uint32_t i = 0; i < lanes; i++) {
        int64_t u = (int64_t)k - tau[i];
        u = u < -1 ? -1 : u > 2 * (int64_t)k ? 2 * (int64_t)k : u;
        uint32_t be = (1u << (m - 1u)) - (uint32_t)((u + 2) / 2), bo = (1u << (m - 1u)) - (uint32_t)((u + 1) / 2);
        for (uint32_t j = 0; j < m; j++) {
            b[j] |= ((be >> j) & 1u) << i;
            b[m + j] |= ((bo >> j) & 1u) << i;
        }
    }
}

/* A segment: n input bits whose weights are wt[p0..p0+n), their slots from slot0. */
typedef struct { uint32_t p0, n, slot0; } sliced_seg;

/* slots of a pixel (per 16 bits, bit-reversed) and its segments (one over all valid kernel
 * rows when the whole kernel width is inside, else one per kernel row); returns the slots
 * used. Channels in whole words: slots straight from the input words; otherwise a segment's
 * bits are first packed into stream. */
static uint32_t sliced_pixel(const uint32_t *x, const fb_conv_shape *s, const taps *t, uint32_t *stream, uint32_t *slots,
                             sliced_seg *seg, uint32_t *n_seg) {
    uint32_t c = s->in_c, run = (t->x1 - t->x0) * c, rows = t->y1 - t->y0, ns = 0, next = 0;
    uint32_t src = ((uint32_t)(t->iy + (int32_t)t->y0) * s->in_w + (uint32_t)(t->ix + (int32_t)t->x0)) * c;
    uint32_t p0 = (t->y0 * s->kw + t->x0) * c;
    int whole = t->x0 == 0 && t->x1 == s->kw;
    if (!(c & 31u)) { /* channels in whole words */
        const uint32_t *row = x + src / 32u;
        uint32_t *sl = slots, n = run / 32u, step = (uint32_t)s->in_w * c / 32u;
        for (uint32_t r = 0; r < rows; r++, row += step) {
            if (!whole || !r) {
                seg[ns].p0 = p0 + r * (uint32_t)s->kw * c, seg[ns].n = whole ? rows * run : run, seg[ns].slot0 = (uint32_t)(sl - slots);
                ns++;
            }
            for (uint32_t j = 0; j < n; j++, sl += 2) {
                uint32_t v = bitrev32(row[j]);
                sl[0] = v;
                sl[1] = v << 16;
            }
        }
        *n_seg = ns;
        return (uint32_t)(sl - slots);
    }
    for (uint32_t r = 0; r < rows; r++, src += (uint32_t)s->in_w * c, p0 += (uint32_t)s->kw * c) {
        if (!whole || !r) {
            seg[ns].p0 = p0, seg[ns].n = 0, seg[ns].slot0 = next;
            ns++;
        }
        sliced_seg *sg = &seg[ns - 1u];
        sg->n += run;
        bit_writer sb = {stream + (sg->n - run) / 32u, 0, (sg->n - run) & 31u};
        if (sb.fill) sb.acc = *sb.dst & ((1u << sb.fill) - 1u); /* continue the stream of a whole-rows segment */
        put_bits(&sb, x, src, run);
        flush_bits(&sb);
        if (!whole || r + 1u == rows) { /* segment complete: its slots */
            for (uint32_t q = 0; q < (sg->n + 15u) / 16u; q++) {
                uint32_t v = bitrev32(stream[q / 2u]);
                slots[sg->slot0 + q] = q & 1u ? v << 16 : v;
            }
            next = sg->slot0 + (sg->n + 15u) / 16u;
        }
    }
    *n_seg = ns;
    return next;
}

/* p[0..] += the n words sv (bit-sliced, each 0/1 per lane): blocks of 16 through hs16, their
 * carries (weight 16) and the last words rippled */
static void sum_words(const uint32_t *sv, uint32_t n, uint32_t *p) {
    uint32_t i = 0;
    for (; i + 16u <= n; i += 16u) ripple(p + 4, hs16(p, sv + i));
    for (; i < n; i++) ripple(p, sv[i]);
}

uint32_t fb_bin_conv_sliced_buffer_size(const fb_conv_shape *s) {
    uint32_t k = fb_conv_k(s), g = (s->out_c + 31u) / 32u, m = 32u - (uint32_t)__builtin_clz(2u * k);
    uint32_t slots = (k + 15u) / 16u + s->kh; /* each of at most kh segments may add a partial slot */
    return g * k + 2u * g * m + fb_words(k) + 1u + 2u * slots + 3u * s->kh;
}

/* One pixel and group: the counter p starts at B_par + half (b: B_par's planes), counts d
 * over the segments (blocks of 16 in run_blocks, a partial last block in C), the s-words are
 * summed into the planes of weight 16, 32, ...; returns p[m-1]. */
static uint32_t sliced_group(const sliced_seg *seg, uint32_t n_seg, const uint32_t *wg, const uint32_t *slots, uint32_t *svec,
                             uint32_t used, const uint32_t *b, uint32_t m, uint32_t half) {
    uint32_t p[32];
    if (!half)
        for (uint32_t j = 0; j < m; j++) p[j] = b[j];
    else
        for (uint32_t j = 0, cy = 0; j < m; j++) { /* p = B_par + half, bit-sliced */
            uint32_t v = b[j];
            if ((half >> j) & 1u) {
                p[j] = ~(v ^ cy);
                cy |= v;
            } else {
                p[j] = v ^ cy;
                cy &= v;
            }
        }
    for (uint32_t j = m; j < 8u; j++) p[j] = 0; /* sum_words works on p[4..7] */
    sliced_args a = {0, 0, 0, 4u * (uint32_t)(svec - slots) - 4u, p};
    for (uint32_t i = 0; i < n_seg; i++) {
        uint32_t nb = seg[i].n / 16u, rem = seg[i].n & 15u;
        a.wt = wg + seg[i].p0, a.slot = slots + seg[i].slot0, a.end = a.slot + nb;
        run_blocks(&a, svec, slots);
        if (rem) { /* the partial last block, zero words past the segment */
            uint32_t dd[16], sl = *a.end;
            const uint32_t *wp = a.wt + 16u * nb;
            for (uint32_t j = 0; j < 16u; j++) dd[j] = j < rem ? wp[j] ^ (0u - ((sl >> (31u - j)) & 1u)) : 0u;
            svec[seg[i].slot0 + nb] = hs16(p, dd);
        }
    }
    sum_words(svec, used, p + 4);
    return p[m - 1u];
}

/* Per pixel: its slots and segments (sliced_pixel), then per group sliced_group: p[m-1] =
 * (d >= T) = (z < tau), since z < tau <=> 2d + delta > U <=> d >= floor((U - delta)/2) + 1 =
 * T_par - floor(delta/2), delta = K - valid. */
void fb_bin_conv_sliced(const uint32_t *x, const fb_conv_shape *s, const uint32_t *w, const int32_t *tau, const uint32_t *flip,
                        uint32_t *out, uint32_t *buf) {
    uint32_t oh = fb_conv_out_h(s), ow = fb_conv_out_w(s), k = fb_conv_k(s), wpr = fb_words(k), oc = s->out_c;
    uint32_t groups = (oc + 31u) / 32u, m = 32u - (uint32_t)__builtin_clz(2u * k);
    uint32_t n_slots = (k + 15u) / 16u + s->kh;
    uint32_t *wt = buf, *start = wt + groups * k, *stream = start + 2u * groups * m, *slots = stream + wpr + 1u, *svec = slots + n_slots;
    sliced_seg *seg = (sliced_seg *)(void *)(svec + n_slots);
    uint32_t blk[32];
    for (uint32_t g = 0; g < groups; g++) {
        uint32_t lanes = oc - 32u * g < 32u ? oc - 32u * g : 32u;
        for (uint32_t j = 0; j < wpr; j++) {
            for (uint32_t i = 0; i < 32u; i++) blk[i] = i < lanes ? w[(32u * g + i) * wpr + j] : 0u;
            transpose32(blk);
            for (uint32_t b = 0; b < 32u && 32u * j + b < k; b++) wt[g * k + 32u * j + b] = blk[b];
        }
        sliced_starts(tau + 32u * g, lanes, k, m, start + 2u * g * m);
    }
    bit_writer bw = {out, 0, 0};
    for (uint32_t oy = 0; oy < oh; oy++)
        for (uint32_t ox = 0; ox < ow; ox++) {
            taps t = valid_taps(s, oy, ox);
            uint32_t n_seg, used = sliced_pixel(x, s, &t, stream, slots, seg, &n_seg);
            uint32_t delta = k - (t.y1 - t.y0) * (t.x1 - t.x0) * s->in_c;
            for (uint32_t g = 0; g < groups; g++) {
                uint32_t res = sliced_group(seg, n_seg, wt + g * k, slots, svec, used, start + (2u * g + (delta & 1u)) * m, m, delta / 2u);
                res ^= flip ? flip[g] : 0u;
                if (!(oc & 31u)) *bw.dst++ = res;
                else {
                    uint32_t lanes = oc - 32u * g < 32u ? oc - 32u * g : 32u;
                    put_word(&bw, lanes < 32u ? res & ((1u << lanes) - 1u) : res, lanes);
                }
            }
        }
    flush_bits(&bw);
}

/* --- int8 activations --------------------------------------------------------------------- */
static int32_t sum_i8(const int8_t *x, uint32_t k) {
    int32_t s = 0;
    for (uint32_t i = 0; i < k; i++) s += x[i];
    return s;
}

#if defined(__ARM_FEATURE_SIMD32)
/* sum_{i < k, a_i = 1 and b_i = 1} x_i (b == NULL: only a). */
static inline uint32_t selection(const uint32_t *a, const uint32_t *b, uint32_t j) { return b ? a[j] & b[j] : a[j]; }

/* x_i summed over the set bits of word m (x points at element 32*j). */
static inline int32_t sum_bits(const int8_t *x, uint32_t m) {
    int32_t s = 0;
    for (; m; m &= m - 1u) s += x[__builtin_ctz(m)];
    return s;
}

/* Cortex-M4 DSP: four int8 at a time. Each nibble of the bit word selects bytes through a
 * mask table; SXTAB16 adds bytes 0,2 and (rotated) 1,3 into 16-bit lanes, flushed every 32
 * words (255 adds of |x| <= 128 fit a lane). The partial last word goes bit by bit. */
static const uint32_t nibble_bytes[16] = {
    0x00000000u, 0x000000FFu, 0x0000FF00u, 0x0000FFFFu, 0x00FF0000u, 0x00FF00FFu, 0x00FFFF00u, 0x00FFFFFFu,
    0xFF000000u, 0xFF0000FFu, 0xFF00FF00u, 0xFF00FFFFu, 0xFFFF0000u, 0xFFFF00FFu, 0xFFFFFF00u, 0xFFFFFFFFu};

static int32_t lanes(int16x2_t v) { return (int16_t)(v & 0xFFFFu) + (int16_t)(v >> 16); }

static int32_t sum_selected(const int8_t *x, const uint32_t *a, const uint32_t *b, uint32_t k) {
    int32_t total = 0;
    uint32_t full = k >> 5, j = 0;
    while (j < full) {
        uint32_t end = j + 32u < full ? j + 32u : full;
        int16x2_t even = 0, odd = 0;
        for (; j < end; j++) {
            uint32_t m = selection(a, b, j);
            const int8_t *xj = x + 32u * j;
            for (uint32_t q = 0; q < 32u; q += 4u, m >>= 4) {
                uint32_t v;
                __builtin_memcpy(&v, xj + q, 4); /* one ldr (-ffreestanding: no implicit builtin) */
                v &= nibble_bytes[m & 15u];
                even = __sxtab16(even, v);
                odd = __sxtab16(odd, (v >> 8) | (v << 24));
            }
        }
        total += lanes(even) + lanes(odd);
    }
    if (k & 31u) total += sum_bits(x + 32u * full, selection(a, b, full) & tail_mask(k));
    return total;
}

void fb_int8_fc_fast(const int8_t *x, const uint32_t *w, uint32_t k, uint32_t n_out, int32_t *out) {
    uint32_t wpr = fb_words(k);
    int32_t sx = sum_i8(x, k);
    for (uint32_t o = 0; o < n_out; o++) out[o] = sx - 2 * sum_selected(x, w + o * wpr, 0, k);
}

void fb_tern_fc_fast(const int8_t *x, const uint32_t *sign, const uint32_t *nz, uint32_t k, uint32_t n_out, int32_t *out) {
    uint32_t wpr = fb_words(k);
    for (uint32_t o = 0; o < n_out; o++)
        out[o] = sum_selected(x, nz + o * wpr, 0, k) - 2 * sum_selected(x, nz + o * wpr, sign + o * wpr, k);
}
#endif

/* x as 8 bit planes, two's complement: bit i of plane j is bit j of x_i, so
 * sum_{i in S} x_i = sum_{j < 7} 2^j popcount(P_j AND S) - 128 popcount(P_7 AND S). Bits past
 * k are 0 in the planes, so weight padding bits never count. AVX2: one VPMOVMSKB per plane and
 * 32 bytes. Plane j starts at planes + j * stride. */
static void bit_planes(const int8_t *x, uint32_t k, uint32_t *planes, uint32_t stride) {
    uint32_t i = 0;
#if defined(__AVX2__)
    for (; i + 32u <= k; i += 32u) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(x + i));
        uint32_t *p = planes + (i >> 5);
        p[0] = (uint32_t)_mm256_movemask_epi8(_mm256_slli_epi16(v, 7));
        p[stride] = (uint32_t)_mm256_movemask_epi8(_mm256_slli_epi16(v, 6));
        p[2u * stride] = (uint32_t)_mm256_movemask_epi8(_mm256_slli_epi16(v, 5));
        p[3u * stride] = (uint32_t)_mm256_movemask_epi8(_mm256_slli_epi16(v, 4));
        p[4u * stride] = (uint32_t)_mm256_movemask_epi8(_mm256_slli_epi16(v, 3));
        p[5u * stride] = (uint32_t)_mm256_movemask_epi8(_mm256_slli_epi16(v, 2));
        p[6u * stride] = (uint32_t)_mm256_movemask_epi8(_mm256_slli_epi16(v, 1));
        p[7u * stride] = (uint32_t)_mm256_movemask_epi8(v);
    }
#endif
    for (uint32_t wi = i >> 5; wi < fb_words(k); wi++)
        for (uint32_t j = 0; j < 8u; j++) planes[j * stride + wi] = 0;
    for (; i < k; i++)
        for (uint32_t j = 0; j < 8u; j++) planes[j * stride + (i >> 5)] |= (((uint32_t)(uint8_t)x[i] >> j) & 1u) << (i & 31u);
}

/* sum over the nw words of (a AND b) (b == NULL: a) of the selected x, from x's planes. */
static inline int32_t planes_dot(const uint32_t *planes, uint32_t stride, const uint32_t *a, const uint32_t *b, uint32_t nw) {
    uint32_t cnt[8] = {0}, i = 0;
    for (; i + 2u <= nw; i += 2u) {
        uint64_t sel = load64(a + i) & (b ? load64(b + i) : ~(uint64_t)0);
        for (uint32_t j = 0; j < 8u; j++) cnt[j] += pop64(load64(planes + j * stride + i) & sel);
    }
    if (i < nw) {
        uint32_t sel = a[i] & (b ? b[i] : 0xFFFFFFFFu);
        for (uint32_t j = 0; j < 8u; j++) cnt[j] += fb_pop32(planes[j * stride + i] & sel);
    }
    int32_t sum = -128 * (int32_t)cnt[7];
    for (uint32_t j = 0; j < 7u; j++) sum += (int32_t)(cnt[j] << j);
    return sum;
}

uint32_t fb_int8_planes_words(uint32_t k) { return 8u * fb_words(k); }
void fb_int8_planes(const int8_t *x, uint32_t k, uint32_t *planes) { bit_planes(x, k, planes, fb_words(k)); }
void fb_int8_fc_planes(const uint32_t *planes, int32_t sx, const uint32_t *w, uint32_t k, uint32_t n_out, int32_t *out) {
    uint32_t wpr = fb_words(k);
    for (uint32_t o = 0; o < n_out; o++) out[o] = sx - 2 * planes_dot(planes, wpr, w + o * wpr, 0, wpr);
}

#if !defined(__ARM_FEATURE_SIMD32)
/* planes of x built once per chunk of 2048 bits (on the stack) and shared by all rows */
#define PLANE_BITS 2048u
static void selected_sums(const int8_t *x, const uint32_t *a, const uint32_t *b, uint32_t k, uint32_t n_out, int32_t scale, int32_t *acc) {
    uint32_t wpr = fb_words(k), planes[8u * PLANE_BITS / 32u];
    for (uint32_t c0 = 0; c0 < k; c0 += PLANE_BITS) {
        uint32_t nbits = k - c0 < PLANE_BITS ? k - c0 : PLANE_BITS, w0 = c0 / 32u;
        bit_planes(x + c0, nbits, planes, PLANE_BITS / 32u);
        for (uint32_t o = 0; o < n_out; o++)
            acc[o] += scale * planes_dot(planes, PLANE_BITS / 32u, a + o * wpr + w0, b ? b + o * wpr + w0 : 0, fb_words(nbits));
    }
}

void fb_int8_fc_fast(const int8_t *x, const uint32_t *w, uint32_t k, uint32_t n_out, int32_t *out) {
    int32_t sx = sum_i8(x, k);
    for (uint32_t o = 0; o < n_out; o++) out[o] = sx;
    selected_sums(x, w, 0, k, n_out, -2, out);
}

void fb_tern_fc_fast(const int8_t *x, const uint32_t *sign, const uint32_t *nz, uint32_t k, uint32_t n_out, int32_t *out) {
    for (uint32_t o = 0; o < n_out; o++) out[o] = 0;
    selected_sums(x, nz, 0, k, n_out, 1, out);
    selected_sums(x, nz, sign, k, n_out, -2, out);
}
#endif

uint32_t fb_int8_conv_buffer_size(const fb_conv_shape *s) { return fb_words(fb_conv_k(s)) * 8u; /* 32 bytes per row word */ }

/* int8 im2col of one output pixel into patch (K bytes, zero padding, tail to 32*wpr zeroed). */
static void im2col_i8(const int8_t *x, const fb_conv_shape *s, uint32_t oy, uint32_t ox, int8_t *patch) {
    taps t = valid_taps(s, oy, ox);
    uint32_t c = s->in_c;
    memset(patch, 0, 32u * fb_words(fb_conv_k(s)));
    for (uint32_t ky = t.y0; ky < t.y1; ky++) {
        uint32_t src = (((uint32_t)(t.iy + (int32_t)ky)) * s->in_w + (uint32_t)(t.ix + (int32_t)t.x0)) * c;
        memcpy(patch + (ky * s->kw + t.x0) * c, x + src, (t.x1 - t.x0) * c);
    }
}

void fb_int8_conv_fast(const int8_t *x, const fb_conv_shape *s, const uint32_t *w, int32_t *out, uint32_t *buf) {
    uint32_t oh = fb_conv_out_h(s), ow = fb_conv_out_w(s), k = fb_conv_k(s);
    int8_t *patch = (int8_t *)buf;
    for (uint32_t oy = 0; oy < oh; oy++)
        for (uint32_t ox = 0; ox < ow; ox++) {
            im2col_i8(x, s, oy, ox, patch);
            fb_int8_fc_fast(patch, w, k, s->out_c, out + (oy * ow + ox) * s->out_c);
        }
}

void fb_tern_conv_fast(const int8_t *x, const fb_conv_shape *s, const uint32_t *sign, const uint32_t *nz, int32_t *out, uint32_t *buf) {
    uint32_t oh = fb_conv_out_h(s), ow = fb_conv_out_w(s), k = fb_conv_k(s);
    int8_t *patch = (int8_t *)buf;
    for (uint32_t oy = 0; oy < oh; oy++)
        for (uint32_t ox = 0; ox < ow; ox++) {
            im2col_i8(x, s, oy, ox, patch);
            fb_tern_fc_fast(patch, sign, nz, k, s->out_c, out + (oy * ow + ox) * s->out_c);
        }
}

/* --- pooling and activations ------------------------------------------------------------- */
uint32_t fb_pool_out(uint32_t in, uint32_t p, uint32_t st, int ceil_mode) {
    if (in < p || p == 0 || st == 0) return 0;
    uint32_t n = (in - p + (ceil_mode ? st - 1u : 0u)) / st + 1u;
    if (ceil_mode && (n - 1u) * st >= in) n--; /* torch: the last window starts inside */
    return n;
}

#define MAXPOOL(T)                                                                      \
    for (uint32_t oy = 0; oy < oh; oy++)                                                \
        for (uint32_t ox = 0; ox < ow; ox++) {                                          \
            T *o = out + (oy * ow + ox) * c;                                            \
            memcpy(o, x + ((oy * st) * w + ox * st) * c, c * sizeof(T));                \
            for (uint32_t y = oy * st; y < oy * st + p && y < h; y++)                   \
                for (uint32_t xx = ox * st; xx < ox * st + p && xx < w; xx++) {         \
                    const T *v = x + (y * w + xx) * c;                                  \
                    for (uint32_t ch = 0; ch < c; ch++) o[ch] = v[ch] > o[ch] ? v[ch] : o[ch]; \
                }                                                                       \
        }

void fb_maxpool_i32(const int32_t *x, uint32_t h, uint32_t w, uint32_t c, uint32_t p, uint32_t st, uint32_t oh, uint32_t ow, int32_t *out) { MAXPOOL(int32_t) }
void fb_maxpool_i8(const int8_t *x, uint32_t h, uint32_t w, uint32_t c, uint32_t p, uint32_t st, uint32_t oh, uint32_t ow, int8_t *out) { MAXPOOL(int8_t) }

/* max over {-1,+1} = AND of the stored bits, 32 channels at a time. */
void fb_bin_maxpool_fast(const uint32_t *x, uint32_t h, uint32_t w, uint32_t c, uint32_t p, uint32_t st, uint32_t oh, uint32_t ow, uint32_t *out) {
    memset(out, 0, 4u * fb_words(oh * ow * c));
    for (uint32_t oy = 0; oy < oh; oy++)
        for (uint32_t ox = 0; ox < ow; ox++)
            for (uint32_t c0 = 0; c0 < c; c0 += 32u) {
                uint32_t n = c - c0 < 32u ? c - c0 : 32u, acc = 0xFFFFFFFFu;
                for (uint32_t y = oy * st; y < oy * st + p && y < h; y++)
                    for (uint32_t xx = ox * st; xx < ox * st + p && xx < w; xx++) {
                        uint32_t v = 0;
                        copy_bits(&v, 0, x, (y * w + xx) * c + c0, n);
                        acc &= v;
                    }
                if (n < 32u) acc &= (1u << n) - 1u;
                copy_bits(out, (oy * ow + ox) * c + c0, &acc, 0, n);
            }
}

/* 1 iff a < t: saturating subtract where the DSP extension has it (the sign stays exact). */
static inline uint32_t below(int32_t a, int32_t t) {
#if defined(__ARM_FEATURE_DSP)
    return (uint32_t)__qsub(a, t) >> 31;
#else
    return (uint32_t)(a < t);
#endif
}

#if defined(__thumb2__) && defined(__ARM_FEATURE_DSP)
/* Bit j = (a[j] < t[j]) for j < 32, given a_end = a + 32, t_end = t + 32: four at a time
 * from the top (LDMDB), QSUB's sign shifted in by LSLS/ADC (3.5 instructions per channel). */
#define FB_BELOW4 "ldmdb r0!, {r3, r4, r5, r6}\n\t" "ldmdb r1!, {r7, r8, r9, r12}\n\t"                 \
    "qsub r6, r6, r12\n\t" "qsub r5, r5, r9\n\t" "qsub r4, r4, r8\n\t" "qsub r3, r3, r7\n\t"          \
    "lsls r6, r6, #1\n\t" "adc r2, r2, r2\n\t" "lsls r5, r5, #1\n\t" "adc r2, r2, r2\n\t"           \
    "lsls r4, r4, #1\n\t" "adc r2, r2, r2\n\t" "lsls r3, r3, #1\n\t" "adc r2, r2, r2\n\t"
static uint32_t __attribute__((naked, noinline)) below32(const int32_t *a_end, const int32_t *t_end) {
    __asm__ volatile("push {r4-r9}\n\t" "mov r2, #0\n\t"
                     FB_BELOW4 FB_BELOW4 FB_BELOW4 FB_BELOW4 FB_BELOW4 FB_BELOW4 FB_BELOW4 FB_BELOW4
                     "mov r0, r2\n\t" "pop {r4-r9}\n\t" "bx lr\n\t");
}
#endif

/* Channels in groups of up to 32: the group's "acc < tau" bits are shifted in from the last
 * channel down, XORed with the group's flip word, and streamed out. Stored bit = y == -1 =
 * (acc < tau) XOR flip. Whole groups on the Cortex-M4 through below32. */
void fb_threshold(const int32_t *acc, uint32_t n_pix, uint32_t c, const int32_t *tau, const uint32_t *flip, uint32_t *out) {
#if defined(__thumb2__) && defined(__ARM_FEATURE_DSP)
    if (!(c & 31u)) {
        for (uint32_t p = 0; p < n_pix; p++)
            for (uint32_t g = 0; g < c / 32u; g++, acc += 32) *out++ = below32(acc + 32, tau + 32u * (g + 1u)) ^ flip[g];
        return;
    }
#endif
    bit_writer bw = {out, 0, 0};
    for (uint32_t p = 0; p < n_pix; p++, acc += c)
        for (uint32_t c0 = 0; c0 < c; c0 += 32u) {
            uint32_t nb = c - c0 < 32u ? c - c0 : 32u, bits = 0;
            for (uint32_t j = nb; j-- > 0;) bits = (bits << 1) | below(acc[c0 + j], tau[c0 + j]);
            put_word(&bw, bits ^ (flip[c0 >> 5] & (nb < 32u ? (1u << nb) - 1u : 0xFFFFFFFFu)), nb);
        }
    flush_bits(&bw);
}

int32_t fb_rshift_rne(int32_t v, uint32_t k) { /* v / 2^k, ties to even (FORMAT.md B.3) */
    if (k == 0) return v;
    int32_t q = v >> k; /* floor (arithmetic shift) */
    int32_t r = v - (int32_t)((uint32_t)q << k), half = (int32_t)(1u << (k - 1u));
    return q + (r > half || (r == half && (q & 1)));
}

void fb_requant(const int32_t *acc, uint32_t n, uint32_t shift, int32_t amin, int32_t amax, int8_t *out) {
    for (uint32_t i = 0; i < n; i++) {
        int32_t v = fb_rshift_rne(acc[i], shift);
        out[i] = (int8_t)(v < amin ? amin : v > amax ? amax : v);
    }
}
