/* Model blob (firmware/FORMAT.md) staging, validation and the network runner. The blob is
 * staged in RAM chunk by chunk (MODEL_CHUNK), validated at MODEL_COMMIT (header, layer table,
 * CRC32). The blob carries no weights: the host LOADs them into the memory under test at
 * their memory-map regions. Inference reads them through hal_mem_read_block, one read per use. */
#ifndef FB_MODEL_H
#define FB_MODEL_H
#include <stdint.h>

#ifndef FB_MODEL_BYTES
#define FB_MODEL_BYTES (256u * 1024u) /* staging buffer for a blob (per target) */
#endif
#ifndef FB_SCRATCH_WORDS
#define FB_SCRATCH_WORDS (64u * 1024u) /* activations + weight rows + im2col (per target) */
#endif
#define FB_MAX_LAYERS 32u
#define FB_MAX_OUTPUTS 200u
#ifndef FB_MAX_INPUT
#define FB_MAX_INPUT 16384u /* input bytes (INPUT chunks stage larger inputs than a frame) */
#endif

enum fb_model_error {
    FB_MODEL_E_MAGIC = 1, FB_MODEL_E_VERSION, FB_MODEL_E_CRC, FB_MODEL_E_TRUNCATED,
    FB_MODEL_E_LAYER, FB_MODEL_E_SHAPE, FB_MODEL_E_MEMORY, FB_MODEL_E_SCRATCH, FB_MODEL_E_TOO_BIG,
};

typedef struct {
    uint32_t n_layers, input_len, n_outputs, weight_words;
} fb_model_info;

void fb_model_reset(void);
/* Stores n bytes at offset of a blob of total bytes. Returns 0, or an FB_E_* code with
 * *detail: OUT_OF_RANGE the capacity (FB_MODEL_BYTES, or total for data past it), BAD_STATE
 * the bytes received so far. */
int fb_model_chunk(uint32_t total, uint32_t offset, const uint8_t *data, uint32_t n, uint32_t *detail);
/* Validates the staged blob of total bytes. Returns 0, or an FB_E_*
 * code with *detail = FB_MODEL_E_* (and layer index << 8). */
int fb_model_commit(uint32_t total, uint32_t *detail);
const fb_model_info *fb_model_info_get(void); /* NULL if no model committed */

/* Whole network, repeat times back to back (repeat >= 1; the caller checks the limit). Each
 * repeat stages the input and runs every layer, reading the weights through the HAL again.
 * scores[n_outputs] are the last repeat's; layer_counts[n_layers] the port_counter count of
 * each layer summed over the repeats; *total the count of all repeats together (input staging
 * included), summed from short differences so it does not wrap. */
int fb_model_infer(const int8_t *input, uint32_t n, uint32_t repeat, int32_t *scores,
                   uint64_t *layer_counts, uint64_t *total);
/* Step mode: set the input, then run one layer per call. */
int fb_model_step_input(const int8_t *input, uint32_t n);
/* Runs the next layer repeat times back to back on the same input (each repeat reads its
 * weights through the HAL), then advances to the following layer once; *layer its index,
 * *total the count of all repeats together; *done = 1 after the last layer, then
 * scores[n_outputs] (the last repeat's) are valid. FB_E_BAD_STATE if no input is pending. */
int fb_model_step(uint32_t repeat, uint32_t *layer, uint64_t *total, int *done, int32_t *scores);
#endif
