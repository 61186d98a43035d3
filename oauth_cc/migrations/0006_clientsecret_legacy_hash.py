# Written by hand (not by makemigrations): one AddField, for secrets imported from
# django-oauth-toolkit by manage.py importdot.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('oauth_cc', '0005_verbose_names'),
    ]

    operations = [
        migrations.AddField(
            model_name='clientsecret',
            name='legacy_hash',
            field=models.CharField(blank=True, editable=False, help_text='A Django password hash imported from django-oauth-toolkit; emptied when the client first presents the secret and its SHA-256 digest is stored instead.', max_length=255, verbose_name='legacy hash'),
        ),
    ]
