from django.db import migrations

POOLS = [
    ("regular", "Regular sales / 常规销售池", "regular", True),
    ("promotion", "Promotion / 大促专用池", "promotion", False),
    ("offline", "Offline stores / 线下门店预留池", "offline", False),
    ("live", "Live-stream virtual warehouse / 直播虚拟仓", "live", False),
]


def create_pools(apps, schema_editor):
    StockPool = apps.get_model("inventory", "StockPool")
    for code, name, kind, is_default in POOLS:
        StockPool.objects.get_or_create(code=code, defaults={"name": name, "kind": kind, "is_default": is_default})


class Migration(migrations.Migration):
    dependencies = [("inventory", "0002_stock_engine")]

    operations = [migrations.RunPython(create_pools, migrations.RunPython.noop)]
