#include "model.h"
#include "fb_protocol.h"
void fb_model_reset(void) {}
int fb_model_chunk(uint32_t total, uint32_t offset, const uint8_t *data, uint32_t n) { (void)total; (void)offset; (void)data; (void)n; return FB_E_BAD_STATE; }
int fb_model_commit(uint32_t total, uint32_t *detail) { (void)total; *detail = 0; return FB_E_BAD_MODEL; }
const fb_model_info *fb_model_info_get(void) { return 0; }
int fb_model_infer(const int8_t *input, uint32_t n, int32_t *scores, uint32_t *counts) { (void)input; (void)n; (void)scores; (void)counts; return FB_E_NO_MODEL; }
int fb_model_step_input(const int8_t *input, uint32_t n) { (void)input; (void)n; return FB_E_NO_MODEL; }
int fb_model_step(uint32_t *layer, uint32_t *count, int *done, int32_t *scores) { (void)layer; (void)count; (void)done; (void)scores; return FB_E_NO_MODEL; }
