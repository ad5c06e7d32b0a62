/* Board protocol, version FB_PROTOCOL_VERSION (firmware/PROTOCOL.md is the reference).
 * Frame: COBS(payload || CRC16 LE) || 0x00. Payload: u8 msg id, u16 seq (LE), fixed LE fields.
 * Reply id = request id | 0x80 with the request's seq; errors use FB_MSG_ERROR. */
#ifndef FB_PROTOCOL_H
#define FB_PROTOCOL_H
#include <stddef.h>
#include <stdint.h>

#ifndef FB_PROTOCOL_VERSION /* overridable only to test the client's version check */
#define FB_PROTOCOL_VERSION 2u
#endif
#define FB_FW_VERSION 0x000200u /* 0.2.0 as 0xMMmmpp */

#define FB_MAX_PAYLOAD 1040u      /* largest request or reply payload (bytes, before CRC) */
#define FB_MAX_IO_WORDS 256u      /* LOAD / READ words per frame */
#define FB_MAX_MODEL_CHUNK 1024u  /* MODEL_CHUNK bytes per frame */
#define FB_HEADER 3u              /* id + seq */
#define FB_PATTERN_MAX_REPORT ((FB_MAX_PAYLOAD - FB_HEADER - 16u) / 4u) /* 255 bit addresses per reply */
#define FB_MAX_REPEAT 65535u      /* STEP / INFER repeat count: 1..FB_MAX_REPEAT */
#define FB_MAX_IDLE_COUNT 0xFFFFFFFFu /* IDLE count: 1..FB_MAX_IDLE_COUNT (count_unit) */
#define FB_MAX_CHIP_ID 63u        /* IDENT: characters of the chip id */

enum fb_msg {
    FB_MSG_HELLO = 0x01,
    FB_MSG_LOAD = 0x02,
    FB_MSG_READ = 0x03,
    FB_MSG_PATTERN = 0x04,
    FB_MSG_MODEL_CHUNK = 0x05,
    FB_MSG_MODEL_COMMIT = 0x06,
    FB_MSG_INFER = 0x07,
    FB_MSG_STEP_INPUT = 0x08,
    FB_MSG_STEP = 0x09,
    FB_MSG_RESET = 0x0A,
    FB_MSG_INPUT = 0x0B, /* stages an input larger than one frame, in order */
    FB_MSG_IDLE = 0x0C,  /* busy-waits a count without touching the memory under test */
    FB_MSG_IDENT = 0x0D, /* the identity of the memory under test (hal_mem_chip_id) */
    FB_MSG_BOOT = 0x7E,  /* unsolicited banner after power-up or RESET, seq 0 */
    FB_MSG_ERROR = 0x7F, /* u16 code, u8 request id, u8 0, u32 detail */
    FB_MSG_REPLY = 0x80,
};

enum fb_error {
    FB_E_BAD_CRC = 1,
    FB_E_BAD_FRAME = 2,    /* reserved: partial frames are dropped without a reply */
    FB_E_OVERSIZE = 3,     /* payload longer than FB_MAX_PAYLOAD; skipped to the next 0x00 */
    FB_E_UNKNOWN_CMD = 4,
    FB_E_BAD_LENGTH = 5,   /* payload length wrong for the command */
    FB_E_OUT_OF_RANGE = 6, /* address/length past the memory or buffer */
    FB_E_NO_MODEL = 7,     /* INFER/STEP before a committed model */
    FB_E_BAD_MODEL = 8,    /* blob rejected (detail: FB_MODEL_E_*) */
    FB_E_BAD_STATE = 9,    /* out of order (STEP without STEP_INPUT, chunk gap, ...) */
    FB_E_BAD_ARG = 10,     /* unknown pattern kind, zero length, repeat or count out of range */
};

enum fb_pattern { FB_PAT_ZEROS = 0, FB_PAT_ONES = 1, FB_PAT_CHECKERBOARD = 2, FB_PAT_RANDOM = 3 };
enum fb_target { FB_TARGET_HOST = 1, FB_TARGET_MPS2_AN386 = 2, FB_TARGET_NUCLEO_F411 = 3, FB_TARGET_NETDUINOPLUS2 = 4 };
enum fb_caps {
    FB_CAP_MODEL = 1u << 0,
    FB_CAP_STEP = 1u << 1,
    FB_CAP_PATTERN = 1u << 2,
    FB_CAP_TERNARY = 1u << 3,
    FB_CAP_LAB = 1u << 4, /* host build with a virtual chip */
};

/* Receiver: feed every received byte; complete frames are dispatched and answered through
 * port_write. Returns 1 when a reply was sent, else 0 (a byte inside a frame, a lone 0x00,
 * a partial frame dropped at its delimiter). */
void fb_proto_init(void);
int fb_proto_rx_byte(uint8_t byte);
/* Drops a partial frame silently (a new host connection starts clean). */
void fb_proto_rx_reset(void);
/* Sends the FB_MSG_BOOT banner (call once after boot, and after RESET). */
void fb_proto_send_boot(void);
#endif
