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
/* Stores n bytes at offset of a blob of total bytes. Returns 0 or an FB_E_* code. */
int fb_model_chunk(uint32_t total, uint32_t offset, const uint8_t *data, uint32_t n);
/* Validates the staged blob of total bytes. Returns 0, or an FB_E_*
 * code with *detail = FB_MODEL_E_* (and layer index << 8). */
int fb_model_commit(uint32_t total, uint32_t *detail);
const fb_model_info *fb_model_info_get(void); /* NULL if no model committed */

/* Whole network: scores[n_outputs], counts[n_layers] (port_counter units). */
int fb_model_infer(const int8_t *input, uint32_t n, int32_t *scores, uint32_t *counts);
/* Step mode: set the input, then run one layer per call. */
int fb_model_step_input(const int8_t *input, uint32_t n);
/* Runs the next layer; *layer its index, *count its count; *done = 1 after the last layer,
 * then scores[n_outputs] are valid. FB_E_BAD_STATE if no input is pending. */
int fb_model_step(uint32_t *layer, uint32_t *count, int *done, int32_t *scores);
#endif
