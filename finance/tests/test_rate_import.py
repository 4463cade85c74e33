"""Exchange rates imported by finance in the admin (django-import-export, read by core.sheets):
CSV or Excel with date, currency, rate; a file with a bad row imports nothing and every error
names its row and field; a confirmed import converts the payments that waited for a rate."""

from datetime import date, datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from core.roles import Role
from core.tests.sheet_files import workbook
from finance.rates.models import ExchangeRate, RateSource
from finance.resources import ExchangeRateResource
from finance.tests.currencies import order_in, pay, rate
from finance.tests.test_rates import FRIDAY

pytestmark = pytest.mark.django_db
IMPORT = reverse("admin:finance_exchangerate_import")
CONFIRM = reverse("admin:finance_exchangerate_process_import")
BAD = (
    "date,currency,rate\r\n"
    "2024-06-28,USD,7.2625\r\n"  # row 1: good
    "2024-06-31,GBP,9.1\r\n"  # row 2: no such day
    "2024-06-28,cny,1\r\n"  # row 3: the business currency
    "2024-06-28,JPY,-0.05\r\n"  # row 4: not above zero
    "2024-06-28,EURO,7.77\r\n"  # row 5: not a code
    "2024-06-28,CHF,8.06x\r\n"  # row 6: not a number
    "2024-06-28,SEK,0.6844129871234567\r\n"  # row 7: more places than a rate keeps
    "2099-01-01,HKD,0.92\r\n"  # row 8: in the future
)


@pytest.fixture
def finance_staff(make_user):
    user = make_user(Role.FINANCE)
    user.is_staff = True
    user.save()
    return user


def choice(client, label):
    form = client.get(IMPORT).context["form"]
    return next(value for value, name in form.fields["format"].choices if name == label)


def preview(client, name, content, label="csv"):
    upload = SimpleUploadedFile(name, content)
    return client.post(IMPORT, {"format": choice(client, label), "resource": "0", "import_file": upload})


def test_a_file_with_bad_rows_imports_nothing_and_names_each_row_and_field(client, finance_staff):
    client.force_login(finance_staff)

    response = preview(client, "rates.csv", BAD.encode())

    assert response.status_code == 200
    result = response.context["result"]
    errors = {
        row.number: {f: [str(m) for m in msgs] for f, msgs in row.error_dict.items()}
        for row in result.invalid_rows
    }
    assert sorted(errors) == [2, 3, 4, 5, 6, 7, 8]
    assert errors[2] == {"date": ["“2024-06-31” is not a date: use YYYY-MM-DD."]}
    assert errors[3] == {"currency": ["CNY is the business currency: its rate is always 1."]}
    assert errors[4] == {"rate": ["A rate is a number above zero."]}
    assert list(errors[5]) == ["currency"] and list(errors[6]) == ["rate"]
    assert "12 decimal places" in errors[7]["rate"][0]
    assert errors[8] == {"date": ["A rate cannot be dated in the future."]}
    page = response.content.decode()
    assert "Some rows failed to validate" in page and "is not a date" in page
    assert "confirm_form" not in response.context or response.context["confirm_form"] is None
    assert not ExchangeRate.objects.exists()


def test_a_good_csv_is_previewed_then_stored_and_converts_waiting_payments(
    client, finance_staff, django_capture_on_commit_callbacks
):
    waiting = pay(order_in("USD", "10.01", FRIDAY), FRIDAY)
    rate(FRIDAY, "EUR", "7.7000")  # replaced by the import: an update in the preview
    client.force_login(finance_staff)
    content = (
        "date,currency,rate,business_currency\r\n2024-06-28,usd, 7.2625 ,CNY\r\n2024-06-28,EUR,7.7748,\r\n"
    )

    shown = preview(client, "rates.csv", content.encode())
    assert [row.import_type for row in shown.context["result"].rows] == ["new", "update"]
    assert ExchangeRate.objects.get(currency="EUR").rate == Decimal("7.7000")  # a preview writes nothing
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = client.post(CONFIRM, shown.context["confirm_form"].initial)

    assert confirmed.status_code == 302
    stored = {r.currency: (r.rate, r.source, r.business_currency) for r in ExchangeRate.objects.all()}
    assert stored == {
        "USD": (Decimal("7.2625"), RateSource.IMPORT, "CNY"),
        "EUR": (Decimal("7.7748"), RateSource.IMPORT, "CNY"),
    }
    waiting.refresh_from_db()
    assert (waiting.rate, waiting.business_amount) == (Decimal("7.2625"), Decimal("72.70"))  # 72.697625


def test_an_excel_file_with_excel_dates_and_numbers_imports(
    client, finance_staff, django_capture_on_commit_callbacks
):
    client.force_login(finance_staff)
    content = workbook(
        ["date", "currency", "rate"],
        [[datetime(2024, 6, 28), "GBP", 9.1858], [date(2024, 6, 27), "GBP", 9.1]],
    )

    shown = preview(client, "rates.xlsx", content, label="xlsx")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(CONFIRM, shown.context["confirm_form"].initial)

    assert dict(ExchangeRate.objects.values_list("date", "rate")) == {
        FRIDAY: Decimal("9.1858"),
        date(2024, 6, 27): Decimal("9.1"),
    }


def test_a_file_without_the_rate_column_is_refused_naming_it():
    import tablib

    result = ExchangeRateResource().import_data(
        tablib.Dataset(["2024-06-28", "USD"], headers=["date", "currency"]), dry_run=True
    )

    assert result.has_errors()
    assert "Columns missing from the header row: rate." in str(result.base_errors[0].error)


def test_only_users_allowed_to_write_rates_may_import(client, make_user, finance_staff):
    from django.contrib.auth.models import Permission

    reader = make_user()
    reader.is_staff = True
    reader.save()
    reader.user_permissions.add(Permission.objects.get(codename="view_exchangerate"))
    client.force_login(reader)

    assert client.get(reverse("admin:finance_exchangerate_changelist")).status_code == 200
    assert client.get(IMPORT).status_code == 403
    client.force_login(finance_staff)
    assert client.get(IMPORT).status_code == 200
