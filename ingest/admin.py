from django.contrib import admin

from .models import Source


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ["key", "name", "tenant", "created_at"]
    list_filter = ["tenant"]
    search_fields = ["key", "name"]
    readonly_fields = ["created_at", "updated_at"]
