"""Writes the Douyin (douyin_*) and Xiaohongshu (xhs_*) fixtures for issue #16.

Helper script (not project code). Verbatim files are copied from the mirrored sources;
constructed files use only fields of the official SDK / doc schemas (see SOURCES.md §17/§18).
"""

import hashlib
import hmac
import json
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

OUT = Path("/work/main/integrations/tests/payloads")
SKIT = "/work/.mirror/fudiwei+DotNetCore.SKIT.FlurlHttpClient.ByteDance/repo"
SKIT_T = "test/SKIT.FlurlHttpClient.ByteDance.DouyinShop.UnitTests/ModelSamples/"
BJ = timezone(timedelta(hours=8))


def git_json(gitdir, path):
    raw = subprocess.run(
        ["git", f"--git-dir={gitdir}", "show", f"HEAD:{path}"], check=True, capture_output=True
    ).stdout
    return json.loads(raw.decode("utf-8-sig"))


def write(name, obj):
    p = OUT / name
    p.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return p


def compact(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def bj(y, mo, d, h, mi, s=0):
    return int(datetime(y, mo, d, h, mi, s, tzinfo=BJ).timestamp())


# ---------------------------------------------------------------- Douyin: verbatim
for src, name in [
    ("Order/OrderSearchListRequest.json", "douyin_order_search_list_doc_request.json"),
    ("Order/OrderSearchListResponse.json", "douyin_order_search_list_doc_response.json"),
    ("Order/OrderDetailResponse.json", "douyin_order_detail_doc_response.json"),
    ("Order/Encryption/OrderBatchDecryptRequest.json", "douyin_order_batch_decrypt_doc_request.json"),
    ("Order/Encryption/OrderBatchDecryptResponse.json", "douyin_order_batch_decrypt_doc_response.json"),
    (
        "Order/Encryption/OrderBatchSearchIndexRequest.json",
        "douyin_order_batch_search_index_doc_request.json",
    ),
    (
        "Order/Encryption/OrderBatchSearchIndexResponse.json",
        "douyin_order_batch_search_index_doc_response.json",
    ),
    ("Order/Logistics/OrderLogisticsAddRequest.json", "douyin_order_logistics_add_doc_request.json"),
    (
        "Order/Logistics/OrderLogisticsCompanyListResponse.json",
        "douyin_order_logistics_company_list_doc_response.json",
    ),
    (
        "Order/Logistics/Package/OrderLogisticsAddMultiplePackageRequest.json",
        "douyin_order_logistics_add_multi_pack_doc_request.json",
    ),
    (
        "Order/Logistics/Package/OrderLogisticsAddMultiplePackageResponse.json",
        "douyin_order_logistics_add_multi_pack_doc_response.json",
    ),
    ("SKU/SKUSyncStockRequest.json", "douyin_sku_sync_stock_doc_request.json"),
    ("Token/TokenCreateRequest.json", "douyin_token_create_doc_request.json"),
    ("Token/TokenCreateResponse.json", "douyin_token_create_doc_response.json"),
    ("Aftersale/AftersaleListRequest.json", "douyin_after_sale_list_doc_request.json"),
    ("Aftersale/AftersaleListResponse.json", "douyin_after_sale_list_doc_response.json"),
]:
    write(name, git_json(SKIT, SKIT_T + src))

# ---------------------------------------------------------------- Douyin: constructed
SHOP_ID, SHOP_NAME = 77977, "刘好好严选"  # doc sample shop (OrderSearchListResponse.json)
# Real-format ciphertexts quoted on open.agiso.com (third-party capture, see SOURCES §17)
ENC_TEL = (
    "$$xP8HUyAQGaXOEO4tHAv2ZoeEQxAn4wWXun7FRA7T5MYnDnjEUxEUqb3eh2Aek2WjEPjE8GO1ad+LiLkPI+TODD56u6+"
    "UpIJ71K4t1iXfVJB1*CgYIASAHKAESPgo8vnQ9ylXbuqO4LV7chHWhFqnePSSbBGDC0bL9YieT6xX5sf13zEgR8rDafzk"
    "WWFYlyjqJPDbc7vJmybF3GgA=$1$$"
)
ENC_NAME = (
    "##RA8Drz4ZwOh3iv9o3QRM6TRTP4BvjMMLyoptIU/y6X4JVx41GEq2V9rGLdP3J3A+Cg8Y9gZEAnsAG4mIGEPOWqtVvNxBhD"
    "mAy44plxiIfQ==*CgYIASAHKAESPgo8qv+sT66jxoWJ4ljJSHa+zfyYxd49Pt1wh+UceqTZiAw2HLbs/ih24wtDPnZVi4Slb7A"
    "6LLDXbm5/i9xEGgA=#1##"
)
ENC_DETAIL = (
    "##Av2EYuW9rDSeF5TUObGZV314xS0a7lvefIIW5weE+dITrp1fSxFUkF7w2bVzW+62eLkqHN16Jz/17o7wFB78A0P6LuLxvR5"
    "8PZptanTuzyoDQbEOGGkL+gcb2B0p0jAK68XkI4ZD*CgYIASAHKAESPgo8zi1miJ8Znc1mlEAH3RlK8LGz9o4hMOAfmcSRxXKr3"
    "kg9YHHggudKhfRmy/cAaZg+/6QoJM/3LDt5qXGIGgA=#1##"
)
POST_ADDR = {
    "province": {"name": "北京市", "id": "110000"},
    "city": {"name": "市辖区", "id": "110000"},
    "town": {"name": "海淀区", "id": "110000"},
    "street": {"name": "中关村街道", "id": "110000"},
    "detail": "",
    "encrypt_detail": ENC_DETAIL,
}
MASK_ADDR = {
    "province": {"name": "北京市", "id": "110000"},
    "city": {"name": "市辖区", "id": "110000"},
    "town": {"name": "海淀区", "id": "110000"},
    "street": {"name": "中关村街道", "id": "110000"},
    "detail": "丹棱街**号",
}


def dy_sku(
    order_id,
    parent,
    status,
    st_desc,
    main,
    main_desc,
    times,
    *,
    product_id,
    sku_id,
    code,
    name,
    origin,
    num,
    shop=0,
    platform=0,
    talent=0,
    post=0,
    spec=None,
    after_sale=None,
):
    promo = shop + platform + talent
    summ = origin * num
    pay = summ + post - promo
    return {
        "order_id": order_id,
        "parent_order_id": parent,
        "order_level": 3,
        "biz": 2,
        "biz_desc": "小店",
        "order_type": 0,
        "order_type_desc": "普通订单",
        "trade_type": 0,
        "trade_type_desc": "普通",
        "order_status": status,
        "order_status_desc": st_desc,
        "main_status": main,
        "main_status_desc": main_desc,
        "pay_time": times["pay"],
        "order_expire_time": 1800,
        "finish_time": times.get("finish", 0),
        "create_time": times["create"],
        "update_time": times["update"],
        "cancel_reason": times.get("cancel_reason", ""),
        "b_type": 2,
        "b_type_desc": "抖音",
        "sub_b_type": 1,
        "sub_b_type_desc": "app内-原生",
        "pay_type": 1 if times["pay"] else 0,
        "channel_payment_no": times.get("channel_payment_no", ""),
        "order_amount": summ + post,
        "pay_amount": pay,
        "post_insurance_amount": 0,
        "modify_amount": 0,
        "modify_post_amount": 0,
        "promotion_amount": promo,
        "promotion_shop_amount": shop,
        "promotion_platform_amount": platform,
        "shop_cost_amount": shop,
        "platform_cost_amount": platform + talent,
        "promotion_talent_amount": talent,
        "promotion_pay_amount": 0,
        "author_cost_amount": talent,
        "only_platform_cost_amount": platform,
        "promotion_redpack_amount": 0,
        "promotion_redpack_platform_amount": 0,
        "promotion_redpack_talent_amount": 0,
        "tax_amount": 0,
        "code": code,
        "post_tel": "",
        "encrypt_post_tel": ENC_TEL,
        "post_receiver": "",
        "encrypt_post_receiver": ENC_NAME,
        "post_addr": POST_ADDR,
        "mask_post_receiver": "张*",
        "mask_post_tel": "1*********8",
        "mask_post_addr": MASK_ADDR,
        "exp_ship_time": times.get("exp_ship", 0),
        "ship_time": 0,
        "logistics_receipt_time": 0,
        "confirm_receipt_time": 0,
        "goods_type": 0,
        "product_id": product_id,
        "product_id_str": str(product_id),
        "sku_id": sku_id,
        "spec": spec or [],
        "out_sku_id": "",
        "out_product_id": "0",
        "supplier_id": "",
        "origin_amount": origin,
        "has_tax": False,
        "item_num": num,
        "sum_amount": summ,
        "product_pic": "",
        "is_comment": 0,
        "product_name": name,
        "inventory_list": [],
        "post_amount": post,
        "pre_sale_type": 0,
        "after_sale_info": after_sale or {"after_sale_status": 0, "after_sale_type": 0, "refund_status": 0},
        "receive_type": 1,
        "given_product_type": "",
        "master_sku_order_id_list": [],
        "bundle_sku_info": [],
    }


def dy_shop_order(order_id, status, st_desc, main, main_desc, times, skus, *, post=0, post_promotion=0):
    order_amount = sum(s["sum_amount"] for s in skus) + post
    shop = sum(s["promotion_shop_amount"] for s in skus)
    platform = sum(s["promotion_platform_amount"] for s in skus)
    talent = sum(s["promotion_talent_amount"] for s in skus)
    promo = shop + platform + talent
    return {
        "shop_id": SHOP_ID,
        "shop_name": SHOP_NAME,
        "open_id": "",
        "order_id": order_id,
        "order_level": 2,
        "biz": 2,
        "biz_desc": "小店",
        "order_type": 0,
        "order_type_desc": "普通订单",
        "order_status": status,
        "order_status_desc": st_desc,
        "main_status": main,
        "main_status_desc": main_desc,
        "pay_time": times["pay"],
        "order_expire_time": 1800,
        "finish_time": times.get("finish", 0),
        "create_time": times["create"],
        "update_time": times["update"],
        "cancel_reason": times.get("cancel_reason", ""),
        "buyer_words": "",
        "seller_words": "",
        "b_type": 2,
        "b_type_desc": "抖音",
        "sub_b_type": 1,
        "sub_b_type_desc": "app内-原生",
        "app_id": 0,
        "pay_type": 1 if times["pay"] else 0,
        "channel_payment_no": times.get("channel_payment_no", ""),
        "order_amount": order_amount,
        "pay_amount": order_amount - promo,
        "post_amount": post,
        "post_insurance_amount": 0,
        "modify_amount": 0,
        "modify_post_amount": 0,
        "promotion_amount": promo,
        "promotion_shop_amount": shop,
        "promotion_platform_amount": platform,
        "shop_cost_amount": shop,
        "platform_cost_amount": platform + talent,
        "promotion_talent_amount": talent,
        "promotion_pay_amount": 0,
        "author_cost_amount": talent,
        "only_platform_cost_amount": platform,
        "total_promotion_amount": promo + post_promotion,
        "post_origin_amount": post + post_promotion,
        "post_promotion_amount": post_promotion,
        "promotion_redpack_amount": 0,
        "promotion_redpack_platform_amount": 0,
        "promotion_redpack_talent_amount": 0,
        "tax_amount": 0,
        "packing_amount": 0,
        "post_tel": "",
        "encrypt_post_tel": ENC_TEL,
        "post_receiver": "",
        "encrypt_post_receiver": ENC_NAME,
        "post_addr": POST_ADDR,
        "mask_post_receiver": "张*",
        "mask_post_tel": "1*********8",
        "mask_post_addr": MASK_ADDR,
        "exp_ship_time": times.get("exp_ship", 0),
        "ship_time": 0,
        "logistics_info": [],
        "sku_order_list": skus,
        "seller_remark_stars": 0,
        "order_phase_list": [],
        "doudian_open_id": "",
        "serial_number_list": [],
        "appointment_ship_time": 0,
        "shop_order_tag_ui": [],
        "user_tag_ui": [],
        "address_tag_ui": [],
    }


D1, D2, D3 = "6921446093102487771", "6921446093102489901", "6921446093102491202"
t1 = {
    "create": bj(2026, 1, 15, 10, 0, 0),
    "pay": bj(2026, 1, 15, 10, 1, 12),
    "update": bj(2026, 1, 15, 10, 1, 15),
    "exp_ship": bj(2026, 1, 17, 23, 59, 59),
    "channel_payment_no": "PAY202601151001120001",
}
t2 = {
    "create": bj(2026, 1, 15, 10, 5, 0),
    "pay": bj(2026, 1, 15, 10, 6, 30),
    "update": bj(2026, 1, 15, 10, 6, 31),
    "exp_ship": bj(2026, 1, 17, 23, 59, 59),
    "channel_payment_no": "PAY202601151006300002",
}
t3 = {"create": bj(2026, 1, 15, 10, 20, 0), "pay": 0, "update": bj(2026, 1, 15, 10, 20, 0)}

BLUE = [{"name": "颜色", "value": "蓝"}, {"name": "尺码", "value": "M"}]
d1_skus = [
    dy_sku(
        "6921446093102487772",
        D1,
        2,
        "备货中",
        2,
        "备货中",
        t1,
        product_id=3473196049974326153,
        sku_id=3254535,
        code="TS-BLU-M",
        name="纯棉T恤",
        origin=5990,
        num=2,
        shop=1000,
        spec=BLUE,
    ),
    dy_sku(
        "6921446093102487773",
        D1,
        2,
        "备货中",
        2,
        "备货中",
        t1,
        product_id=3473196049974326154,
        sku_id=3254536,
        code="SOCK-W-3",
        name="棉袜三双装",
        origin=1990,
        num=1,
        platform=500,
        spec=[{"name": "颜色", "value": "白"}],
    ),
]
d1 = dy_shop_order(D1, 2, "备货中", 2, "备货中", t1, d1_skus)
d2_skus = [
    dy_sku(
        "6921446093102489902",
        D2,
        2,
        "备货中",
        2,
        "备货中",
        t2,
        product_id=3473196049974326160,
        sku_id=3254600,
        code="MUG-350",
        name="陶瓷马克杯",
        origin=8800,
        num=1,
        shop=800,
        post=1000,
        spec=[{"name": "容量", "value": "350ml"}],
    ),
]
d2 = dy_shop_order(D2, 2, "备货中", 2, "备货中", t2, d2_skus, post=1000)
d3_skus = [
    dy_sku(
        "6921446093102491203",
        D3,
        1,
        "待支付",
        1,
        "待支付",
        t3,
        product_id=3473196049974326153,
        sku_id=3254535,
        code="TS-BLU-M",
        name="纯棉T恤",
        origin=5990,
        num=1,
        spec=BLUE,
    ),
]
d3 = dy_shop_order(D3, 1, "待支付", 1, "待支付", t3, d3_skus)

# later version of D1: refunded before shipment -> order closed (order_status 4, main_status 21)
t1c = dict(t1, update=bj(2026, 1, 15, 14, 30, 5), cancel_reason="不想要了")
closed_as = {"after_sale_status": 12, "after_sale_type": 2, "refund_status": 3}
d1c_skus = [
    dy_sku(
        s["order_id"],
        D1,
        4,
        "已取消",
        21,
        "发货前退款完结",
        t1c,
        product_id=s["product_id"],
        sku_id=s["sku_id"],
        code=s["code"],
        name=s["product_name"],
        origin=s["origin_amount"],
        num=s["item_num"],
        shop=s["promotion_shop_amount"],
        platform=s["promotion_platform_amount"],
        spec=s["spec"],
        after_sale=closed_as,
    )
    for s in d1_skus
]
d1c = dy_shop_order(D1, 4, "已取消", 21, "发货前退款完结", t1c, d1c_skus)

ENVELOPE_OK = {"code": 10000, "msg": "success", "sub_code": "", "sub_msg": ""}
win_start, win_end = bj(2026, 1, 15, 9, 55, 0), bj(2026, 1, 15, 10, 25, 0)
for page, orders in [(0, [d1, d2]), (1, [d3])]:
    write(
        f"douyin_order_search_list_page{page}_request.json",
        {
            "order_asc": True,
            "order_by": "update_time",
            "page": page,
            "size": 2,
            "update_time_end": win_end,
            "update_time_start": win_start,
        },
    )
    write(
        f"douyin_order_search_list_page{page}_response.json",
        {
            **ENVELOPE_OK,
            "log_id": f"2026011510250001010{page}",
            "data": {"page": page, "total": 3, "size": 2, "shop_order_list": orders},
        },
    )
write("douyin_order_detail_request.json", {"shop_order_id": D1})
write(
    "douyin_order_detail_response.json",
    {**ENVELOPE_OK, "log_id": "20260115102600010103", "data": {"shop_order_detail": d1}},
)
write(
    "douyin_order_search_list_cancelled_response.json",
    {
        **ENVELOPE_OK,
        "log_id": "20260115143500010104",
        "data": {"page": 0, "total": 1, "size": 100, "shop_order_list": [d1c]},
    },
)

# errors (codes/sub_codes from the 平台基础错误码 table, see SOURCES §17)
write(
    "douyin_error_traffic_limited.json",
    {
        "code": 60000,
        "msg": "触发限流，请稍后重试",
        "sub_code": "isv.traffic-limited",
        "sub_msg": "请求太频繁，请稍后重试",
        "log_id": "20260115102600010105",
        "data": None,
    },
)
write(
    "douyin_error_access_token_expired.json",
    {
        "code": 40003,
        "msg": "非法的参数",
        "sub_code": "isv.access-token-expired",
        "sub_msg": "access_token已过期",
        "log_id": "20260115102600010106",
        "data": None,
    },
)

# token refresh (fields of TokenRefreshParam / TokenRefreshData)
write("douyin_token_refresh_request.json", {"grant_type": "refresh_token", "refresh_token": "REFRESH_TOKEN"})
write(
    "douyin_token_refresh_response.json",
    {
        **ENVELOPE_OK,
        "log_id": "20260115102600010107",
        "data": {
            "access_token": "ACCESS_TOKEN_2",
            "expires_in": 604800,
            "refresh_token": "REFRESH_TOKEN_2",
            "scope": "SCOPE",
            "shop_id": SHOP_ID,
            "shop_name": SHOP_NAME,
            "authority_id": str(SHOP_ID),
            "auth_subject_type": "MiniApp",
        },
    },
)

# decrypt for D1 (cipher_infos / decrypt_infos fields of the official SDK)
write(
    "douyin_order_batch_decrypt_request.json",
    {
        "cipher_infos": [
            {"auth_id": D1, "cipher_text": ENC_NAME},
            {"auth_id": D1, "cipher_text": ENC_TEL},
            {"auth_id": D1, "cipher_text": ENC_DETAIL},
        ]
    },
)
write(
    "douyin_order_batch_decrypt_response.json",
    {
        **ENVELOPE_OK,
        "log_id": "20260115102600010108",
        "data": {
            "decrypt_infos": [
                {
                    "auth_id": D1,
                    "cipher_text": ENC_NAME,
                    "decrypt_text": "张三",
                    "err_no": 0,
                    "err_msg": "",
                    "data_type": 2,
                    "is_virtual_tel": False,
                    "expire_time": 0,
                    "phone_no_a": "",
                    "phone_no_b": "",
                },
                {
                    "auth_id": D1,
                    "cipher_text": ENC_TEL,
                    "decrypt_text": "13117428564",
                    "err_no": 0,
                    "err_msg": "",
                    "data_type": 3,
                    "is_virtual_tel": False,
                    "expire_time": 0,
                    "phone_no_a": "",
                    "phone_no_b": "",
                },
                {
                    "auth_id": D1,
                    "cipher_text": ENC_DETAIL,
                    "decrypt_text": "丹棱街1号",
                    "err_no": 0,
                    "err_msg": "",
                    "data_type": 1,
                    "is_virtual_tel": False,
                    "expire_time": 0,
                    "phone_no_a": "",
                    "phone_no_b": "",
                },
            ],
            "custom_err": {"err_code": 0, "err_msg": ""},
        },
    },
)

# stock push / write-back
write(
    "douyin_sku_sync_stock_request.json",
    {
        "code": "TS-BLU-M",
        "incremental": False,
        "product_id": 3473196049974326153,
        "sku_id": 3254535,
        "stock_num": 37,
    },
)
write("douyin_sku_sync_stock_response.json", {**ENVELOPE_OK, "log_id": "20260115102600010109", "data": {}})
write(
    "douyin_order_logistics_add_request.json",
    {"company_code": "shunfeng", "logistics_code": "SF1234567890123", "order_id": D2},
)
write(
    "douyin_order_logistics_add_response.json", {**ENVELOPE_OK, "log_id": "20260115102600010110", "data": {}}
)
write(
    "douyin_order_logistics_add_multi_pack_request.json",
    {
        "order_id": D1,
        "request_id": "conduit-shipment-D1-1",
        "pack_list": [
            {
                "company_code": "shunfeng",
                "logistics_code": "SF1234567890124",
                "shipped_order_info": [{"shipped_order_id": "6921446093102487772", "shipped_num": 2}],
            },
            {
                "company_code": "yuantong",
                "logistics_code": "YT9876543210001",
                "shipped_order_info": [{"shipped_order_id": "6921446093102487773", "shipped_num": 1}],
            },
        ],
    },
)
write(
    "douyin_order_logistics_add_multi_pack_response.json",
    {
        **ENVELOPE_OK,
        "log_id": "20260115102600010111",
        "data": {
            "pack_list": [
                {
                    "logistics_code": "SF1234567890124",
                    "pack_id": "4705288465508532901",
                    "shipped_order_info": [
                        {"shipped_order_id": "6921446093102487772", "shipped_num": 2, "shipped_item_ids": []}
                    ],
                },
                {
                    "logistics_code": "YT9876543210001",
                    "pack_id": "4705288465508532902",
                    "shipped_order_info": [
                        {"shipped_order_id": "6921446093102487773", "shipped_num": 1, "shipped_item_ids": []}
                    ],
                },
            ]
        },
    },
)


# push messages: envelope of the official Java SDK (DoudianOpMsgParamRecord: tag, msg_id, data=JSON string)
def dy_msg(tag, msg_id, data):
    return {"tag": tag, "msg_id": msg_id, "data": json.dumps(data, ensure_ascii=False, separators=(",", ":"))}


d1_ids = [int(s["order_id"]) for s in d1_skus]
push_paid = [
    dy_msg(
        "100",
        f"{D1}:100:{t1['create']}:1",
        {
            "biz": 2,
            "create_time": t1["create"],
            "order_status": 1,
            "order_type": 0,
            "p_id": int(D1),
            "s_ids": d1_ids,
            "shop_id": SHOP_ID,
        },
    ),
    dy_msg(
        "101",
        f"{D1}:101:{t1['pay']}:1",
        {
            "biz": 2,
            "order_status": 2,
            "order_type": 0,
            "p_id": int(D1),
            "pay_amount": d1["pay_amount"],
            "pay_time": t1["pay"],
            "pay_type": 1,
            "s_ids": d1_ids,
            "shop_id": SHOP_ID,
        },
    ),
]
push_cancel = [
    dy_msg(
        "106",
        f"{D1}:106:{t1c['update']}:1",
        {
            "biz": 2,
            "cancel_reason": "不想要了",
            "cancel_time": t1c["update"],
            "order_status": 4,
            "order_type": 0,
            "p_id": int(D1),
            "s_ids": d1_ids,
            "shop_id": SHOP_ID,
        },
    ),
]
AS_ID = "7301224466880011223"
t_as = bj(2026, 1, 15, 11, 0, 0)
push_refund = [
    dy_msg(
        "200",
        f"{AS_ID}:200:{t_as}:1",
        {
            "aftersale_id": AS_ID,
            "aftersale_status": 6,
            "aftersale_type": 2,
            "apply_time": t_as,
            "p_id": int(D2),
            "reason_code": 15,
            "refund_amount": 8000,
            "refund_post_amount": 1000,
            "refund_voucher_num": 0,
            "s_id": int(d2_skus[0]["order_id"]),
            "shop_id": SHOP_ID,
        },
    ),
]
push_probe = [{"tag": "0", "msg_id": "0", "data": "2020-09-10T16:27:56.52842897+08:00"}]
write("douyin_push_trade_create_paid.json", push_paid)
write("douyin_push_trade_canceled.json", push_cancel)
write("douyin_push_refund_created.json", push_refund)
write("douyin_push_probe.json", push_probe)
write("douyin_push_success_response.json", {"code": 0, "msg": "success"})

# after-sale list / detail for the D2 refund (AfterSaleListData / AfterSaleDetailData fields)
write(
    "douyin_after_sale_list_request.json",
    {
        "order_by": ["update_time asc"],
        "page": 0,
        "size": 100,
        "update_end_time": bj(2026, 1, 15, 11, 30),
        "update_start_time": bj(2026, 1, 15, 10, 55),
    },
)
write(
    "douyin_after_sale_list_response.json",
    {
        **ENVELOPE_OK,
        "log_id": "20260115113000010112",
        "data": {
            "has_more": False,
            "total": 1,
            "page": 0,
            "size": 100,
            "items": [
                {
                    "aftersale_info": {
                        "aftersale_id": AS_ID,
                        "aftersale_order_type": 1,
                        "aftersale_type": 2,
                        "aftersale_status": 6,
                        "related_id": d2_skus[0]["order_id"],
                        "apply_time": t_as,
                        "update_time": t_as,
                        "status_deadline": t_as + 2 * 86400,
                        "refund_amount": 8000,
                        "refund_post_amount": 1000,
                        "aftersale_num": 1,
                        "part_type": 0,
                        "aftersale_refund_type": 0,
                        "refund_type": 0,
                        "arbitrate_status": 0,
                        "create_time": t_as,
                        "refund_tax_amount": 0,
                        "return_logistics_code": "",
                        "return_promotion_amount": 0,
                        "refund_status": 1,
                        "got_pkg": 0,
                        "remark": "",
                        "order_logistics": [],
                        "reason_second_labels": [],
                        "aftersale_tags": [],
                    },
                    "order_info": {
                        "shop_order_id": D2,
                        "order_flag": 0,
                        "related_order_info": [
                            {
                                "sku_order_id": d2_skus[0]["order_id"],
                                "order_status": 2,
                                "pay_amount": 9000,
                                "post_amount": 1000,
                                "item_num": 1,
                                "create_time": t2["create"],
                                "tax_amount": 0,
                                "is_oversea_order": 0,
                                "product_name": "陶瓷马克杯",
                                "product_id": 3473196049974326160,
                                "product_image": "",
                                "tags": [],
                                "sku_spec": [{"name": "容量", "value": "350ml"}],
                                "shop_sku_code": "MUG-350",
                                "logistics_code": "",
                                "aftersale_pay_amount": 8000,
                                "aftersale_post_amount": 1000,
                                "aftersale_tax_amount": 0,
                                "aftersale_item_num": 1,
                                "promotion_pay_amount": 0,
                                "price": 8800,
                                "given_sku_order_ids": [],
                            }
                        ],
                    },
                    "text_part": {
                        "logistics_text": "未发货",
                        "aftersale_status_text": "待商家处理",
                        "aftersale_type_text": "仅退款",
                        "return_logistics_text": "",
                        "aftersale_refund_type_text": "原路退款",
                        "reason_text": "不想要了",
                        "bad_item_text": "",
                        "arbitrate_status_text": "",
                    },
                    "seller_logs": [],
                }
            ],
        },
    },
)
write("douyin_after_sale_detail_request.json", {"after_sale_id": AS_ID})
write(
    "douyin_after_sale_detail_response.json",
    {
        **ENVELOPE_OK,
        "log_id": "20260115113000010113",
        "data": {
            "process_info": {
                "after_sale_info": {
                    "after_sale_id": int(AS_ID),
                    "after_sale_status": 6,
                    "after_sale_status_desc": "待商家处理",
                    "refund_type": 1,
                    "refund_type_text": "原路退款",
                    "refund_status": 1,
                    "refund_total_amount": 9000,
                    "refund_post_amount": 1000,
                    "refund_promotion_amount": 0,
                    "apply_time": t_as,
                    "update_time": t_as,
                    "reason": "不想要了",
                    "reason_code": 15,
                    "after_sale_type": 2,
                    "after_sale_type_text": "仅退款",
                    "reason_remark": "",
                    "evidence": [],
                    "after_sale_apply_count": 1,
                    "need_return_count": 0,
                    "deduction_amount": 0,
                    "real_refund_amount": 0,
                    "got_pkg": 0,
                    "status_deadline": t_as + 2 * 86400,
                    "part_type": 0,
                    "after_sale_order_type": 1,
                },
                "logistics_info": {"order": []},
                "after_sale_shop_remarks": [],
                "record_logs_list": [],
            },
            "order_info": {
                "shop_order_id": int(D2),
                "sku_order_infos": [
                    {
                        "sku_order_id": int(d2_skus[0]["order_id"]),
                        "order_status": 2,
                        "pay_amount": 9000,
                        "post_amount": 1000,
                        "item_quantity": 1,
                        "create_time": t2["create"],
                        "tax_amount": 0,
                        "is_oversea_order": 0,
                        "product_name": "陶瓷马克杯",
                        "product_id": 3473196049974326160,
                        "product_image": "",
                        "tags": [],
                        "sku_spec": [{"name": "容量", "value": "350ml"}],
                        "shop_sku_code": "MUG-350",
                        "sku_id": 3254600,
                        "item_sum_amount": 8800,
                        "sku_pay_amount": 8000,
                        "promotion_amount": 800,
                        "pay_type": 1,
                        "insurance_tags": [],
                        "after_sale_item_count": 1,
                        "given_sku_order_ids": [],
                    }
                ],
            },
        },
    },
)

# signing vectors (computed with the SDK formulas; values chosen here)
APP_KEY, APP_SECRET = "7012345678901234567", "test-app-secret-0001"
req0 = json.loads((OUT / "douyin_order_search_list_page0_request.json").read_text())
pj = compact(req0)
ts = str(bj(2026, 1, 15, 10, 25, 0))
pattern = f"{APP_SECRET}app_key{APP_KEY}methodorder.searchListparam_json{pj}timestamp{ts}v2{APP_SECRET}"
push_body = json.dumps(push_paid, ensure_ascii=False, separators=(",", ":"))
push_plain = f"{APP_KEY}{push_body}{APP_SECRET}"
write(
    "douyin_signing_vectors.json",
    {
        "app_key": APP_KEY,
        "app_secret": APP_SECRET,
        "api": {
            "method": "order.searchList",
            "timestamp": ts,
            "v": "2",
            "param_json": pj,
            "sign_pattern": pattern,
            "md5": hashlib.md5(pattern.encode()).hexdigest(),
            "hmac_sha256": hmac.new(APP_SECRET.encode(), pattern.encode(), hashlib.sha256).hexdigest(),
        },
        "push": {
            "body": push_body,
            "sign_plain": push_plain,
            "event_sign_md5": hashlib.md5(push_plain.encode()).hexdigest(),
            "event_sign_hmac_sha256": hmac.new(
                APP_SECRET.encode(), push_plain.encode(), hashlib.sha256
            ).hexdigest(),
        },
        "third_party_check": {
            "app_id": "app-123",
            "app_secret": "secret-456",
            "body": '[{"tag":"0","msg_id":"0","data":"probe"}]',
            "event_sign_hmac_sha256": "7e0bd8b248471435f5a09b27cbc1a07f2cb00f625810bde9f3cc5b0ba7bc4a11",
        },
    },
)

# ================================================================ Xiaohongshu
SELLER_ID = "5a1512fb8e03a76ee832abcd"
# ciphertexts / index strings / plaintexts from doc 051 加密算法介绍 (crawler-inserted spaces removed)
XHS_ENC_ADDR = (
    "#jj3kfKd57af2Od3/VNCPawVF6fUSAzvvOtv5cacPccNe1uomw84ArtQan8GmL3ZHMVuPqaztz3C4979m+Qf2sw==#"
    "jj3kfKd57af2Od3/VNCPa9Ki/eUsHQWbfxJX92/xGsdtXNIFXE8Ft42uaQ8DlZJpjYhc1ZOwpdjIXZqahO6V9Bw0JF1biK4"
    "TOcALKffvXHt7zk/0qZIdSZJiLSZxBGIBNDWzNEjx0w64BSqX7skfLw==#1##"
)
XHS_IDX_ADDR = "jj3kfKd57af2Od3/VNCPawVF6fUSAzvvOtv5cacPccNe1uomw84ArtQan8GmL3ZHMVuPqaztz3C4979m+Qf2sw=="
XHS_ENC_NAME = (
    "#jj3kfKd57af2Od3/VNCPa9viUkAcpDxT4D7DtaFXQDo=#jj3kfKd57af2Od3/VNCPa9Ki/eUsHQWbfxJX92/xGsdtXNI"
    "FXE8Ft42uaQ8DlZJpO3vqzjZ6C8gJjIGwVPAHmXnfClljpMulQIEYTEUAeOY=#2##"
)
XHS_IDX_NAME = "jj3kfKd57af2Od3/VNCPa9viUkAcpDxT4D7DtaFXQDo="
XHS_ENC_TEL = (
    "#jj3kfKd57af2Od3/VNCPa3SjBDZ+1NE60wT3AEdmF5s=#jj3kfKd57af2Od3/VNCPa9Ki/eUsHQWbfxJX92/xGsdtXNIF"
    "XE8Ft42uaQ8DlZJp0PeoFBvSOoa6Du5XccgjCbes6KTi93v5e9Y4KiQPO+o=#3##"
)
XHS_IDX_TEL = "jj3kfKd57af2Od3/VNCPa3SjBDZ+1NE60wT3AEdmF5s="
PLAIN_ADDR, PLAIN_NAME, PLAIN_TEL = "上海市黄浦区马当路388号C座2楼", "王小二", "13918812345"


def ms(y, mo, d, h, mi, s=0):
    return bj(y, mo, d, h, mi, s) * 1000


def xhs_sku(sku_id, name, erp, qty, raw, merchant=0, red=0, tag=0):
    paid = raw - merchant - red
    return {
        "skuId": sku_id,
        "skuName": name,
        "erpcode": erp,
        "skuSpec": "",
        "skuImage": "",
        "skuQuantity": qty,
        "skuDetailList": [
            {
                "skuId": sku_id,
                "erpCode": erp,
                "barcode": "",
                "scSkuCode": "",
                "quantity": qty,
                "registerName": name,
                "skuName": name,
                "pricePerSku": paid,
                "taxPerSku": 0,
                "paidAmountPerSku": paid,
                "depositAmountPerSku": 0,
                "merchantDiscountPerSku": merchant,
                "redDiscountPerSku": red,
                "rawPricePerSku": raw,
            }
        ],
        "totalPaidAmount": paid * qty,
        "totalMerchantDiscount": merchant * qty,
        "totalRedDiscount": red * qty,
        "totalTaxAmount": 0,
        "totalNetWeight": 0,
        "skuTag": tag,
        "isChannel": False,
        "deliveryMode": 0,
        "kolId": "",
        "kolName": "",
        "skuAfterSaleStatus": 1,
        "itemId": sku_id,
        "itemName": name,
    }


def xhs_order(oid, status, after, times, skus, *, shipping=0, open_address_id="oa-0001"):
    goods_paid = sum(s["totalPaidAmount"] for s in skus)
    merchant = sum(s["totalMerchantDiscount"] for s in skus)
    red = sum(s["totalRedDiscount"] for s in skus)
    pay = goods_paid + shipping
    return {
        "orderId": oid,
        "orderType": 1,
        "orderStatus": status,
        "orderAfterSalesStatus": after,
        "cancelStatus": 0,
        "createdTime": times["create"],
        "paidTime": times["paid"],
        "updateTime": times["update"],
        "deliveryTime": 0,
        "cancelTime": times.get("cancel", 0),
        "finishTime": times.get("finish", 0),
        "promiseLastDeliveryTime": times.get("promise", 0),
        "planInfoId": "601a***fb49",
        "planInfoName": "不包邮-默认模板",
        "receiverCountryId": "",
        "receiverCountryName": "中国",
        "receiverProvinceId": "",
        "receiverProvinceName": "上海",
        "receiverCityId": "",
        "receiverCityName": "上海市",
        "receiverDistrictId": "",
        "receiverDistrictName": "黄浦区",
        "customerRemark": "",
        "sellerRemark": "",
        "sellerRemarkFlag": 1,
        "presaleDeliveryStartTime": 0,
        "presaleDeliveryEndTime": 0,
        "skuList": skus,
        "originalOrderId": "",
        "totalNetWeightAmount": 0,
        "totalPayAmount": pay,
        "totalShippingFree": shipping,
        "unpack": False,
        "expressTrackingNo": "",
        "expressCompanyCode": "",
        "receiverName": None,
        "receiverPhone": None,
        "receiverAddress": None,
        "openAddressId": open_address_id,
        "simpleDeliveryOrderList": [],
        "logistics": "red_auto",
        "totalDepositAmount": 0,
        "totalMerchantDiscount": merchant,
        "totalRedDiscount": red,
        "merchantActualReceiveAmount": pay + 0 + red,
        "totalChangePriceAmount": 0,
        "paymentType": 1,
        "shopId": SELLER_ID,
        "shopName": "Conduit测试店",
        "whcode": "CPartner",
        "userId": "62f0a1b2c3d4e5f6a7b8c9d0",
        "orderTagList": [],
        "logisticsMode": 1,
        "customsCode": "",
        "outPromotionAmount": 0,
        "outTradeNo": times.get("out_trade_no", ""),
    }


LIST_KEYS = [
    "orderId",
    "orderType",
    "orderStatus",
    "orderAfterSalesStatus",
    "cancelStatus",
    "createdTime",
    "paidTime",
    "updateTime",
    "deliveryTime",
    "cancelTime",
    "finishTime",
    "promiseLastDeliveryTime",
    "planInfoId",
    "planInfoName",
    "receiverCountryId",
    "receiverCountryName",
    "receiverProvinceId",
    "receiverProvinceName",
    "receiverCityId",
    "receiverCityName",
    "receiverDistrictId",
    "receiverDistrictName",
    "customerRemark",
    "sellerRemark",
    "sellerRemarkFlag",
    "originalOrderId",
    "logistics",
    "orderTagList",
]


def as_list_item(o):
    return {k: o[k] for k in LIST_KEYS}


X1, X2, X3 = "P781234567890123401", "P781234567890123402", "P781234567890123403"
xt1 = {
    "create": ms(2026, 1, 15, 10, 0),
    "paid": ms(2026, 1, 15, 10, 1, 12),
    "update": ms(2026, 1, 15, 10, 2, 0),
    "promise": ms(2026, 1, 17, 23, 59, 59),
    "out_trade_no": "2026011522001400000001",
}
xt2 = {
    "create": ms(2026, 1, 15, 10, 5),
    "paid": ms(2026, 1, 15, 10, 6, 30),
    "update": ms(2026, 1, 15, 10, 7, 0),
    "promise": ms(2026, 1, 17, 23, 59, 59),
    "out_trade_no": "2026011522001400000002",
}
xt3 = {"create": ms(2026, 1, 15, 9, 58), "paid": 0, "update": ms(2026, 1, 15, 9, 58, 0)}
x1 = xhs_order(
    X1,
    4,
    1,
    xt1,
    [
        xhs_sku("66ee733f265f590001ee873d", "纯棉T恤 蓝 M", "TS-BLU-M", 2, 5990, merchant=500),
        xhs_sku("670517bc29b37600015127d1", "棉袜三双装 白", "SOCK-W-3", 1, 1990, red=500),
    ],
    open_address_id="7f1c2a9e0b5d4c3a8e6f1d2c3b4a5e6f",
)
x2 = xhs_order(
    X2,
    4,
    1,
    xt2,
    [xhs_sku("67064f2b980e2f00016052bc", "陶瓷马克杯 350ml", "MUG-350", 1, 8800, merchant=800)],
    shipping=1000,
    open_address_id="0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d",
)
x3 = xhs_order(X3, 1, 1, xt3, [xhs_sku("66ee733f265f590001ee873d", "纯棉T恤 蓝 M", "TS-BLU-M", 1, 5990)])

XHS_OK = {"error_code": 0, "error_msg": "", "success": True}
xw_start, xw_end = bj(2026, 1, 15, 9, 45), bj(2026, 1, 15, 10, 15)  # timeType 2: end-start <= 30 min
for page, orders in [(1, [x2, x1]), (2, [x3])]:
    write(
        f"xhs_order_get_order_list_page{page}_request.json",
        {
            "method": "order.getOrderList",
            "startTime": xw_start,
            "endTime": xw_end,
            "timeType": 2,
            "orderType": 0,
            "orderStatus": 0,
            "pageNo": page,
            "pageSize": 2,
        },
    )
    write(
        f"xhs_order_get_order_list_page{page}_response.json",
        {
            **XHS_OK,
            "data": {
                "total": 3,
                "pageNo": page,
                "pageSize": 2,
                "maxPageNo": 2,
                "orderList": [as_list_item(o) for o in orders],
            },
        },
    )
write("xhs_order_get_order_detail_request.json", {"method": "order.getOrderDetail", "orderId": X1})
write("xhs_order_get_order_detail_response.json", {**XHS_OK, "data": x1})
write("xhs_order_get_order_detail_shipping_response.json", {**XHS_OK, "data": x2})
x1c = dict(
    x1,
    orderStatus=8,
    orderAfterSalesStatus=3,
    updateTime=ms(2026, 1, 15, 14, 30, 5),
    cancelTime=ms(2026, 1, 15, 14, 30, 5),
)
x1c["skuList"] = [dict(s, skuAfterSaleStatus=3) for s in x1["skuList"]]
write("xhs_order_get_order_detail_closed_response.json", {**XHS_OK, "data": x1c})

write(
    "xhs_order_get_order_receiver_info_request.json",
    {
        "method": "order.getOrderReceiverInfo",
        "isReturn": False,
        "receiverQueries": [{"orderId": X1, "openAddressId": x1["openAddressId"]}],
    },
)
write(
    "xhs_order_get_order_receiver_info_response.json",
    {
        **XHS_OK,
        "data": {
            "receiverInfos": [
                {
                    "orderId": X1,
                    "matched": True,
                    "receiverProvinceName": "上海",
                    "receiverCityName": "上海市",
                    "receiverDistrictName": "黄浦区",
                    "receiverTownName": "",
                    "receiverName": XHS_ENC_NAME,
                    "receiverPhone": XHS_ENC_TEL,
                    "receiverAddress": XHS_ENC_ADDR,
                }
            ]
        },
    },
)
write(
    "xhs_data_batch_decrypt_request.json",
    {
        "method": "data.batchDecrypt",
        "actionType": "2",
        "appUserId": "conduit",
        "baseInfos": [
            {"dataTag": X1, "encryptedData": XHS_ENC_NAME},
            {"dataTag": X1, "encryptedData": XHS_ENC_TEL},
            {"dataTag": X1, "encryptedData": XHS_ENC_ADDR},
        ],
    },
)
write(
    "xhs_data_batch_decrypt_response.json",
    {
        **XHS_OK,
        "data": {
            "dataInfoList": [
                {
                    "dataTag": X1,
                    "encryptedData": e,
                    "decryptedData": p,
                    "errorCode": 0,
                    "errorMsg": "",
                    "virtualNumberFlag": False,
                }
                for e, p in [(XHS_ENC_NAME, PLAIN_NAME), (XHS_ENC_TEL, PLAIN_TEL), (XHS_ENC_ADDR, PLAIN_ADDR)]
            ]
        },
    },
)
write(
    "xhs_data_batch_index_request.json",
    {
        "method": "data.batchIndex",
        "indexBaseInfoList": [{"plainText": PLAIN_TEL, "type": 3}, {"plainText": PLAIN_NAME, "type": 2}],
    },
)
write(
    "xhs_data_batch_index_response.json",
    {
        **XHS_OK,
        "data": {
            "indexInfoList": [
                {"plainText": PLAIN_TEL, "searchIndex": XHS_IDX_TEL},
                {"plainText": PLAIN_NAME, "searchIndex": XHS_IDX_NAME},
            ]
        },
    },
)

write(
    "xhs_order_order_deliver_request.json",
    {
        "method": "order.orderDeliver",
        "orderId": X2,
        "expressNo": "SF1234567890125",
        "expressCompanyCode": "shunfeng",
        "deliveringTime": ms(2026, 1, 15, 16, 0),
    },
)
write(
    "xhs_order_order_deliver_unpack_request.json",
    {
        "method": "order.orderDeliver",
        "orderId": X1,
        "expressNo": "1074000012048",
        "expressCompanyCode": "zto",
        "expressCompanyName": "中通",
        "unpack": True,
        "skuIdList": ["66ee733f265f590001ee873d"],
        "deliveringTime": ms(2026, 1, 15, 16, 5),
    },
)
write("xhs_order_order_deliver_response.json", {**XHS_OK, "data": {}})
write(
    "xhs_common_get_express_company_list_response.json",
    {
        **XHS_OK,
        "data": {
            "expressCompanyInfos": [
                {
                    "expressCompanyId": 1,
                    "expressCompanyCode": "shunfeng",
                    "expressCompanyName": "顺丰",
                    "comment": "",
                },
                {
                    "expressCompanyId": 2,
                    "expressCompanyCode": "zto",
                    "expressCompanyName": "中通",
                    "comment": "",
                },
                {
                    "expressCompanyId": 3,
                    "expressCompanyCode": "selfdelivery",
                    "expressCompanyName": "无物流发货",
                    "comment": "",
                },
            ]
        },
    },
)

STOCK = {
    "available": 25,
    "standalone": 0,
    "reserved": 0,
    "total": 100,
    "occupiedQuantity": 35,
    "productChannelQuantity": 15,
    "productChannelOccupiedQuantity": 15,
    "activityChannelQuantity": 10,
    "activityChannelOccupiedQuantity": 0,
}
write(
    "xhs_inventory_sync_sku_stock_request.json",
    {"method": "inventory.syncSkuStock", "skuId": "66ee733f265f590001ee873d", "qty": 100},
)
write(
    "xhs_inventory_sync_sku_stock_response.json",
    {
        **XHS_OK,
        "data": {
            "skuId": "66ee733f265f590001ee873d",
            "apiVersion": "V1",
            "skuStock": STOCK,
            "skuStockInfoWithWhcode": [
                {"skuId": "66ee733f265f590001ee873d", "whcode": "CPartner", "skuStock": STOCK}
            ],
            "response": {
                "success": True,
                "message": "同步成功，但有占用库存未扣减，请检查独立库存占用情况和用户待支付订单占用库存情况",
                "code": -9028,
            },
        },
    },
)

RID = "R6242141112658161"
xt_as = ms(2026, 1, 15, 11, 0)
write(
    "xhs_after_sale_list_after_sale_infos_request.json",
    {
        "method": "afterSale.listAfterSaleInfos",
        "pageNo": 1,
        "pageSize": 50,
        "timeType": 2,
        "startTime": ms(2026, 1, 15, 10, 45),
        "endTime": ms(2026, 1, 15, 11, 15),
    },
)
write(
    "xhs_after_sale_list_after_sale_infos_response.json",
    {
        "code": 0,
        "msg": "",
        "success": True,
        "data": {
            "totalCount": 1,
            "pageNo": 1,
            "pageSize": 50,
            "afterSaleBasicInfos": [
                {
                    "returnsId": RID,
                    "returnType": 5,
                    "reasonId": 1,
                    "reasonNameZh": "不想要了",
                    "status": 1,
                    "userId": "62f0a1b2c3d4e5f6a7b8c9d0",
                    "orderId": X2,
                    "applyTime": xt_as,
                    "updatedAt": xt_as,
                    "expireTime": xt_as + 2 * 86400000,
                    "desc": "",
                    "returnsTag": 0,
                    "expectedRefundAmountYuan": 90.0,
                }
            ],
        },
    },
)
write(
    "xhs_after_sale_get_after_sale_info_request.json",
    {"method": "afterSale.getAfterSaleInfo", "returnsId": RID, "needNegotiateRecord": False},
)
write(
    "xhs_after_sale_get_after_sale_info_response.json",
    {
        "code": 0,
        "msg": "",
        "success": True,
        "data": {
            "afterSaleInfo": {
                "returnsId": RID,
                "returnType": 5,
                "reasonId": 1,
                "reasonNameZh": "不想要了",
                "status": 1,
                "userId": "62f0a1b2c3d4e5f6a7b8c9d0",
                "orderId": X2,
                "applyTime": xt_as,
                "updatedAt": xt_as,
                "expireTime": xt_as + 2 * 86400000,
                "returnAddress": None,
                "proofPhotos": [],
                "desc": "",
                "supportCarriageInsurance": False,
                "openAddressId": x2["openAddressId"],
                "skus": [
                    {
                        "skuId": "67064f2b980e2f00016052bc",
                        "skuName": "陶瓷马克杯 350ml",
                        "image": "",
                        "price": 80.0,
                        "boughtCount": 1,
                        "appliedCount": 1,
                        "appliedTotalAmountYuan": 80.0,
                        "scskucode": "",
                        "barcode": "",
                        "variants": [{"name": "容量", "value": "350ml"}],
                        "skuERPCode": "MUG-350",
                    }
                ],
                "exchangeSKUs": [],
                "closeReasonZh": "",
                "returnsTag": 0,
                "appliedShipFeeAmountYuan": 10.0,
                "appliedSkusAmountYuan": 80.0,
                "expectedRefundAmountYuan": 90.0,
                "refundAmountYuan": 0.0,
                "refundStatus": 101,
                "cargoStatus": 0,
                "refundTime": 0,
            },
            "logisticsInfo": {"afterSale": None, "exchange": None, "order": None},
            "negotiateRecords": [],
        },
    },
)


def xhs_msg(tag, data):
    return {
        "msgTag": tag,
        "sellerId": SELLER_ID,
        "data": json.dumps(data, ensure_ascii=False, separators=(",", ":")),
    }


write(
    "xhs_push_fulfillment_status_change.json",
    [
        xhs_msg(
            "msg_fulfillment_status_change",
            {
                "orderId": X1,
                "packageId": X1,
                "orderStatus": 4,
                "packageStatus": 4,
                "updateTime": xt1["update"],
            },
        )
    ],
)
write(
    "xhs_push_fulfillment_status_closed.json",
    [
        xhs_msg(
            "msg_fulfillment_status_change",
            {
                "orderId": X1,
                "packageId": X1,
                "orderStatus": 8,
                "packageStatus": 8,
                "updateTime": x1c["updateTime"],
            },
        )
    ],
)
write(
    "xhs_push_after_sale_create.json",
    [
        xhs_msg(
            "msg_after_sale_create",
            {
                "refundFee": 80.0,
                "orderId": X2,
                "packageId": X2,
                "returnsId": RID,
                "updateTime": xt_as,
                "returnType": 5,
                "requestFrom": 1,
            },
        )
    ],
)
write("xhs_push_success_response.json", {"success": True, "error_code": 0, "error_msg": ""})

XHS_APP_ID, XHS_SECRET = "21d6a1b2c3d4e5f6be8de0", "429a1b2c3d4e5f6a3aee9ef9e4a858210"
xts = str(bj(2026, 1, 15, 10, 15))
api_plain = f"order.getOrderList?appId={XHS_APP_ID}&timestamp={xts}&version=2.0{XHS_SECRET}"
push_path, push_ts = "/open_api/msg", xts
push_plain2 = f"{push_path}?app-key={XHS_APP_ID}&timestamp={push_ts}{XHS_SECRET}"
write(
    "xhs_signing_vectors.json",
    {
        "api_sdk_test_vector": {
            "method": "oauth.getAccessToken",
            "appId": "test-app",
            "timestamp": "1700000000",
            "version": "1.0",
            "appSecret": "secret-key",
            "sign_plain": "oauth.getAccessToken?appId=test-app&timestamp=1700000000&version=1.0secret-key",
            "sign": "15dd91e56a77df52c8a652a43a7c131e",
        },
        "api_computed": {
            "method": "order.getOrderList",
            "appId": XHS_APP_ID,
            "timestamp": xts,
            "version": "2.0",
            "appSecret": XHS_SECRET,
            "sign_plain": api_plain,
            "sign": hashlib.md5(api_plain.encode()).hexdigest(),
        },
        "push_doc_vector": {
            "url": "/open_api/msg?canshu=test",
            "headers": {"timestamp": "1625475843", "app-key": "xhs"},
            "app_secret": "9a539709cafc1efc9ef05838be468a28",
            "sign_plain": "/open_api/msg?app-key=xhs&canshu=test&timestamp=16254758439a539709cafc1efc9ef05838be468a28",
            "sign": "a7b7430de338783293443133ab9b9357",
        },
        "push_computed": {
            "url": push_path,
            "headers": {"timestamp": push_ts, "app-key": XHS_APP_ID},
            "app_secret": XHS_SECRET,
            "sign_plain": push_plain2,
            "sign": hashlib.md5(push_plain2.encode()).hexdigest(),
        },
    },
)
write(
    "xhs_oauth_get_access_token_request.json",
    {
        "sign": "6a76602***68400",
        "appId": "21d***be8de0",
        "timestamp": "161***379",
        "version": "2.0",
        "method": "oauth.getAccessToken",
        "code": "code-9e28279***e6035dc686e0-7aaea***841f3b32",
    },
)
write(
    "xhs_oauth_get_access_token_response.json",
    {
        "error_code": 0,
        "data": {
            "accessToken": "token-2d22cd***3c1b55bc7-e83e919***a3504b398",
            "accessTokenExpiresAt": 1613807389260,
            "refreshToken": "refresh-72df8ba***7e1387407ac-944badaf***268294df5ae1",
            "refreshTokenExpiresAt": 1616312989263,
            "sellerId": "5a1***76ee832",
            "sellerName": "开放平台测试店1专卖店",
        },
        "success": True,
    },
)
write(
    "xhs_oauth_refresh_token_request.json",
    {
        "sign": "6a76602***46ee68400",
        "appId": "21d6***8de0",
        "timestamp": "161***8379",
        "version": "2.0",
        "method": "oauth.refreshToken",
        "refreshToken": "refresh-06ca049***b77ac4493697-3251618c7***ebfffd7e",
    },
)
write(
    "xhs_oauth_refresh_token_response.json",
    {
        "error_code": 0,
        "data": {
            "accessToken": "token-e643e958****da68398a-572e65****24c3f922",
            "accessTokenExpiresAt": 1613807628007,
            "refreshToken": "refresh-72df8ba****e1387407ac-944bad****94df5ae1",
            "refreshTokenExpiresAt": 1616312989262,
            "sellerId": "5a151****12e76ee832",
            "sellerName": "开放平台测试店1专卖店",
        },
        "success": True,
    },
)

print("ok")
